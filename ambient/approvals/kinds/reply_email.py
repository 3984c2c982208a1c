"""reply_email: a reply in the item's thread, sent over SMTP once the human approves it.

Its In-Reply-To and References come from the item's stored message, never from the model; a
draft without recipients answers the sender (their Reply-To if set), one without a subject gets
"Re: <the subject>". Exactly once: the SMTP executor keeps a durable delivery stage and a
Message-ID derived from the idempotency key (see ``ambient.approvals.executors.smtp``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ambient.approvals.executors import Executor
from ambient.approvals.executors.smtp import build_smtp_executor
from ambient.approvals.kinds.base import ActionKind, DraftItem, DraftToFix, ExecutorParts
from ambient.approvals.kinds.email import (
    EMAIL_RULES,
    Address,
    EmailAction,
    EmailDraft,
    EmailKind,
)
from ambient.core.config import Settings


class ReplyEmail(EmailAction):
    """A reply in the item's thread (In-Reply-To/References come from the item, not from here)."""


class ReplyEmailDraft(EmailDraft, ReplyEmail):
    to: list[Address] = Field(
        default_factory=list,
        max_length=10,
        description="Recipients; leave empty to answer the sender (their Reply-To if set).",
    )
    subject: str = Field(
        default="", max_length=998, description="Leave empty for 'Re: <original subject>'."
    )


class ReplyEmailKind(EmailKind[ReplyEmail]):
    name = ActionKind.REPLY_EMAIL
    label = "reply"
    order = 10
    arguments = ReplyEmail
    draft = ReplyEmailDraft
    description = (
        "Draft a reply to the message, threaded under it. Runs only after the user approves."
    )
    prompt_hint = 'a reply to the sender, threaded; leave "to" empty to answer the sender'
    in_thread = True
    outside_thread_rule = "reply_outside_thread"
    rules = {**EMAIL_RULES, "reply_outside_thread": "block"}

    def check_draft(self, draft: ReplyEmail, item: DraftItem, settings: Settings) -> None:
        if not draft.to and not item.reply_address:
            raise DraftToFix("the message has no sender address to reply to: give 'to' explicitly")

    def from_draft(self, draft: ReplyEmail, item: DraftItem) -> dict[str, Any]:
        fields = super().from_draft(draft, item)
        fields["to"] = fields["to"] or [item.reply_address]
        fields["subject"] = fields["subject"] or item.reply_subject
        return fields

    def approved(self, args: dict[str, Any]) -> str:
        return f"reply to {', '.join(args['to'])}, subject {args['subject']!r}"

    def build_executor(self, parts: ExecutorParts) -> Executor:
        return parts.shared(build_smtp_executor)


KIND = ReplyEmailKind()
