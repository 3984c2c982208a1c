"""tag_message: a keyword (an IMAP keyword, such as ``$Receipt``; a label in many mail clients)
added to the item's message.

For IMAP accounts only: a Maildir has no standard place for keywords, so the executor refuses
one there. The keyword is an IMAP atom (letters, digits, ``_ . -``, ``$`` first for the
conventional ones); a system flag (``\\Deleted``…) cannot be one. A message that has the keyword
already is left as it is (see ``ambient.approvals.kinds.mailbox``).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from ambient.approvals.kinds.base import RATIONALE_HELP, ActionArguments, ActionKind
from ambient.approvals.kinds.mailbox import MailboxKind
from ambient.core.config import KEYWORD_PATTERN
from ambient.mail.mailbox_changes import MailboxChange, SetFlag


class TagMessage(ActionArguments):
    keyword: str = Field(
        min_length=1,
        max_length=64,
        description="The keyword to add, e.g. $Receipt or Project-X (no spaces).",
    )

    @field_validator("keyword")
    @classmethod
    def _atom(cls, value: str) -> str:
        if not re.match(KEYWORD_PATTERN, value):
            raise ValueError(
                "a keyword is one word of letters, digits, _ . - ($ first allowed), e.g. $Receipt"
            )
        return value


class TagMessageDraft(TagMessage):
    rationale: str = Field(description=RATIONALE_HELP)


class TagMessageKind(MailboxKind[TagMessage]):
    name = ActionKind.TAG_MESSAGE
    label = "tag"
    order = 62
    arguments = TagMessage
    draft = TagMessageDraft
    description = (
        "Draft adding a keyword (a label) to the message, e.g. $Receipt. "
        "Runs only after the user approves."
    )
    prompt_hint = "add a keyword (label) to the message"

    def concerns(self, args: dict[str, Any]) -> str:
        return str(args.get("keyword", ""))

    def headline(self, args: dict[str, Any]) -> str:
        return f"tag the message {self.concerns(args)}"

    def autonomy_scope(self, args: dict[str, Any]) -> str | None:
        """The keyword."""
        return self.concerns(args) or None

    def change(self, action: TagMessage, archive_folder: str | None) -> MailboxChange:
        return SetFlag(action.keyword, True)


KIND = TagMessageKind()
