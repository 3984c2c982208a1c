"""move_message: the item's message moved to a folder the user allows, or archived.

Without a folder it archives: the message goes to its source's ``archive_folder`` ("Archive" by
default). Any other folder must be one of ``policy.move_folders`` or a source's archive folder
(checked when drafted, when queued and when run); a human editing the draft may change the
folder to another allowed one, or empty it to archive.
On IMAP a move is MOVE, or COPY and the expunge of that one message where the server has no
MOVE; in an owned Maildir, a rename into the ``.Folder/`` (see ``ambient.approvals.kinds.mailbox``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ambient.approvals.kinds.base import (
    RATIONALE_HELP,
    ActionArguments,
    ActionKind,
    DraftItem,
    DraftToFix,
    PolicyCheck,
)
from ambient.approvals.kinds.mailbox import (
    MailboxKind,
    checked_folder_name,
    folder_refusal,
)
from ambient.core.config import Settings
from ambient.mail.mailbox_changes import ActionRefused, MailboxChange, MoveTo

ARCHIVE = "archive"


class MoveMessage(ActionArguments):
    folder: str = Field(
        default="",
        max_length=200,
        description="The folder to move the message to; empty: archive it.",
    )

    @field_validator("folder")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        return checked_folder_name(value)


class MoveMessageDraft(MoveMessage):
    folder: str = Field(
        default="",
        max_length=200,
        description="Leave empty to archive the message; else a folder the user allows.",
    )
    rationale: str = Field(description=RATIONALE_HELP)


class MoveMessageKind(MailboxKind[MoveMessage]):
    name = ActionKind.MOVE_MESSAGE
    label = "move"
    order = 60
    arguments = MoveMessage
    draft = MoveMessageDraft
    description = (
        "Draft archiving the message (folder empty) or moving it to a folder the user allows. "
        "Runs only after the user approves; it never deletes."
    )
    prompt_hint = "archive the message, or move it to a folder the user allows"
    rules = {"folder_not_allowed": "block"}

    def check_draft(self, draft: MoveMessage, item: DraftItem, settings: Settings) -> None:
        refusal = folder_refusal(draft.folder, settings.policy, settings)
        if refusal:
            raise DraftToFix(f"move_message: {refusal}; leave the folder empty to archive")

    def concerns(self, args: dict[str, Any]) -> str:
        return str(args.get("folder") or ARCHIVE)

    def headline(self, args: dict[str, Any]) -> str:
        folder = args.get("folder")
        return f"move the message to {folder}" if folder else "archive the message"

    def shown_headers(self, args: dict[str, Any]) -> list[tuple[str, str]]:
        if args.get("folder"):
            return super().shown_headers(args)
        return [("Folder", "(none: archive it, to the account's archive folder)")]

    def autonomy_scope(self, args: dict[str, Any]) -> str | None:
        """The folder (``archive`` for the archive folder)."""
        return self.concerns(args)

    def check(self, action: MoveMessage, check: PolicyCheck) -> None:
        refusal = folder_refusal(action.folder, check.policy, check.settings)
        if refusal:
            check.add("folder_not_allowed", refusal)

    def change(self, action: MoveMessage, archive_folder: str | None) -> MailboxChange:
        if action.folder:
            return MoveTo(action.folder)
        if not archive_folder:
            raise ActionRefused("cannot archive: the source has no archive_folder")
        return MoveTo(archive_folder)


KIND = MoveMessageKind()
