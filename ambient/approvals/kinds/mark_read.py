"""mark_read: the item's message marked read (``\\Seen``), or unread again.

On IMAP the flag is stored where the message is (found by UID, or by Message-ID after a
UIDVALIDITY change or a move); in an owned Maildir it is the ``S`` of the file name's ``:2,``
info. A message read already is left as it is (see ``ambient.approvals.kinds.mailbox``).
"""

from __future__ import annotations

from pydantic import Field

from ambient.approvals.kinds.base import RATIONALE_HELP, ActionArguments, ActionKind
from ambient.approvals.kinds.mailbox import FlagSwitchKind
from ambient.mail.mailbox_changes import SEEN


class MarkRead(ActionArguments):
    read: bool = Field(default=True, description="true: mark the message read; false: unread.")


class MarkReadDraft(MarkRead):
    rationale: str = Field(description=RATIONALE_HELP)


class MarkReadKind(FlagSwitchKind[MarkRead]):
    name = ActionKind.MARK_READ
    label = "read"
    order = 63
    arguments = MarkRead
    draft = MarkReadDraft
    description = (
        "Draft marking the message read (read false: unread), for mail the user need not open. "
        "Runs only after the user approves."
    )
    prompt_hint = "mark the message read, or unread"
    flag = SEEN
    switch = "read"
    words = ("read", "unread")
    sentence = "mark the message {}"


KIND = MarkReadKind()
