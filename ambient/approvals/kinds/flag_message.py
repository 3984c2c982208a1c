"""flag_message: the item's message flagged (starred, ``\\Flagged``) or unflagged.

On IMAP the flag is stored where the message is (found by UID, or by Message-ID after a
UIDVALIDITY change or a move); in an owned Maildir it is the ``F`` of the file name's ``:2,``
info. A message flagged already is left as it is (see ``ambient.approvals.kinds.mailbox``).
"""

from __future__ import annotations

from pydantic import Field

from ambient.approvals.kinds.base import RATIONALE_HELP, ActionArguments, ActionKind
from ambient.approvals.kinds.mailbox import FlagSwitchKind
from ambient.mail.mailbox_changes import FLAGGED


class FlagMessage(ActionArguments):
    flagged: bool = Field(default=True, description="true: flag the message; false: unflag it.")


class FlagMessageDraft(FlagMessage):
    rationale: str = Field(description=RATIONALE_HELP)


class FlagMessageKind(FlagSwitchKind[FlagMessage]):
    name = ActionKind.FLAG_MESSAGE
    label = "flag"
    order = 61
    arguments = FlagMessage
    draft = FlagMessageDraft
    description = (
        "Draft flagging the message for the user's attention (flagged false: unflag it). "
        "Runs only after the user approves."
    )
    prompt_hint = "flag the message, or unflag it"
    flag = FLAGGED
    switch = "flagged"
    words = ("flag", "unflag")
    sentence = "{} the message"


KIND = FlagMessageKind()
