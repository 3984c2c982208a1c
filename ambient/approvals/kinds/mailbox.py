"""What the mailbox kinds share: each changes the item's own message, in the mailbox it came from.

``move_message`` (to a folder; without one, archive: to the account's ``archive_folder``),
``flag_message`` (flag or unflag), ``tag_message`` (add a keyword) and ``mark_read`` (read or
unread) act on the message the item is: an IMAP account's, or one of a Maildir ambient owns
(``owned = true``); never a Maildir ambient only reads, never a spool item. Their arguments say
only what changes (a folder, a keyword, on or off), since the message is the item's, which
its approval belongs to: they validate on their own, so a pre-rule can draft one from
``ambient.toml`` as the agent does. None of them deletes a message.

The policy (``folder_not_allowed``, blocks): a message moves only to a folder of
``policy.move_folders`` or to a source's ``archive_folder``; a folder that does not exist is
created only with ``policy.create_folders = true``. Executed once, and idempotent by looking
first: see ``ambient.approvals.executors.mailbox``.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import Any, ClassVar

from ambient.approvals.executors import Executor
from ambient.approvals.kinds.base import ArgsT, ExecutorParts, Kind
from ambient.core.config import (
    ImapSourceSettings,
    MaildirSourceSettings,
    PolicySettings,
    Settings,
)
from ambient.mail.mailbox_changes import MailboxChange, SetFlag

MailboxSource = ImapSourceSettings | MaildirSourceSettings
_NOT_IN_FOLDER_NAMES = re.compile(r"[\x00-\x1f\x7f*%\"\\]")  # control, IMAP wildcards, quoting


def checked_folder_name(folder: str) -> str:
    """`folder` when it can name a folder ("" too: the archive folder); ValueError otherwise."""
    if _NOT_IN_FOLDER_NAMES.search(folder) or folder != folder.strip():
        raise ValueError(
            'a folder name has no line breaks, control characters, *, %, " or \\ and no '
            "spaces at either end"
        )
    return folder


def mailbox_sources(settings: Settings | None) -> list[MailboxSource]:
    if settings is None:
        return []
    return [
        s for s in settings.sources if isinstance(s, ImapSourceSettings | MaildirSourceSettings)
    ]


def archive_folders(settings: Settings | None) -> list[str]:
    """Every source's archive folder (in order, once each)."""
    found = [source.archive_folder for source in mailbox_sources(settings) if source.archive_folder]
    return list(dict.fromkeys(found))


def allowed_folders(policy: PolicySettings, settings: Settings | None) -> list[str]:
    """Where a message may be moved: ``policy.move_folders`` and every source's archive folder."""
    return list(dict.fromkeys([*policy.move_folders, *archive_folders(settings)]))


def folder_refusal(folder: str, policy: PolicySettings, settings: Settings | None) -> str | None:
    """Why a move to `folder` ("": archive) is not allowed, or None when it is."""
    if not folder:
        if settings is not None and not archive_folders(settings):
            return "no source has an archive_folder, so there is nowhere to archive to"
        return None
    allowed = allowed_folders(policy, settings)
    if folder in allowed:
        return None
    listed = ", ".join(allowed) if allowed else "none: policy.move_folders is empty"
    return f"{folder!r} is not a folder messages may be moved to (allowed: {listed})"


class MailboxKind(Kind[ArgsT]):
    """A change to the item's own message (its folder or one flag)."""

    thread_bound: ClassVar[bool] = (
        False  # about this one message: a reply in its thread is not news
    )
    body_field = None

    @abstractmethod
    def change(self, action: ArgsT, archive_folder: str | None) -> MailboxChange:
        """What to do to the message; `archive_folder`: its source's (None: it has none).
        Raises ActionRefused when it cannot be done there."""

    @abstractmethod
    def headline(self, args: dict[str, Any]) -> str:
        """What it does, as a sentence: "archive the message", "flag the message"."""

    def approved(self, args: dict[str, Any]) -> str:
        return self.headline(args)

    def summary(self, args: dict[str, Any], fallback: str = "") -> str:
        """The item's subject (the TUI lists it beside what is done), else what is done."""
        return fallback or self.headline(args)

    def build_executor(self, parts: ExecutorParts) -> Executor:
        """One executor for every mailbox kind (the outbox builds it). The IMAP client and the
        mailbox writers are imported here, not with the kind: every command reads the kinds."""
        from ambient.approvals.executors.mailbox import build_mailbox_executor

        return parts.shared(build_mailbox_executor)


class FlagSwitchKind(MailboxKind[ArgsT]):
    """A kind that sets or clears one flag by one boolean argument, true by default."""

    flag: ClassVar[str]  # the flag it sets or clears: \\Flagged
    switch: ClassVar[str]  # the argument: "flagged"
    words: ClassVar[tuple[str, str]]  # what setting and clearing it are called: flag, unflag
    sentence: ClassVar[str]  # the headline, one of the words in it: "{} the message"

    def concerns(self, args: dict[str, Any]) -> str:
        return self.words[0] if args.get(self.switch, True) is not False else self.words[1]

    def headline(self, args: dict[str, Any]) -> str:
        return self.sentence.format(self.concerns(args))

    def autonomy_scope(self, args: dict[str, Any]) -> str | None:
        """Setting it, or clearing it."""
        return self.concerns(args)

    def change(self, action: ArgsT, archive_folder: str | None) -> MailboxChange:
        return SetFlag(self.flag, bool(getattr(action, self.switch)))
