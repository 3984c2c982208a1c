"""send_email: a new email outside the item's thread, sent over SMTP once the human approves.

Writing to someone who was not in the thread is what it is for, so that is a warning the human
acknowledges, not a block. Exactly once, as a reply is (see ``ambient.approvals.executors.smtp``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ambient.approvals.executors import Executor
from ambient.approvals.executors.smtp import build_smtp_executor
from ambient.approvals.kinds.base import ActionKind, ExecutorParts
from ambient.approvals.kinds.email import (
    EMAIL_RULES,
    Address,
    EmailAction,
    EmailDraft,
    EmailKind,
)


class SendEmail(EmailAction):
    """A new email, outside the item's thread."""


class SendEmailDraft(EmailDraft, SendEmail):
    to: list[Address] = Field(min_length=1, max_length=10, description="Recipient addresses.")


class SendEmailKind(EmailKind[SendEmail]):
    name = ActionKind.SEND_EMAIL
    label = "send"
    order = 20
    arguments = SendEmail
    draft = SendEmailDraft
    description = "Draft a new email (not a reply). Runs only after the user approves."
    prompt_hint = "a new message"
    outside_thread_rule = "send_outside_thread"
    rules = {**EMAIL_RULES, "send_outside_thread": "warn"}

    def approved(self, args: dict[str, Any]) -> str:
        return f"email to {', '.join(args['to'])}, subject {args['subject']!r}"

    def build_executor(self, parts: ExecutorParts) -> Executor:
        return parts.shared(build_smtp_executor)


KIND = SendEmailKind()
