"""The mailbox kinds' executor: one change to the item's own message, once, looking first.

The message is the item's: its source is the ledger row's; for an IMAP account, the mailbox,
UIDVALIDITY and UID the source recorded in the item's metadata, and its Message-ID (to find it
after a UIDVALIDITY change, :mod:`ambient.mail.imap_actions`); for a Maildir ambient owns, its
key (:mod:`ambient.sources.maildir_actions`). A Maildir ambient only reads, or a spool item, is
refused.

A move on IMAP records the durable stage ``moving`` (:mod:`ambient.approvals.journal`) right
before the MOVE (or COPY), and ``moved`` after it. After a crash the outbox runs the action again
with the same key; the executor, seeing ``moving``, finds the message in the target already, or
finishes a copy whose original is still in the mailbox by expunging that original (and only
then): either way the message ends up in the target folder once. A flag needs no stage (the
state is looked at first; storing it twice is storing it once); a Maildir change is one atomic
rename.

What cannot be done (no such message, folder or source, a Maildir ambient does not own, a folder
the policy does not allow for this source, a server that cannot move one message safely) is
permanent: dead at once, with the reason. A connection that fails is retried by the outbox.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from sqlalchemy import Engine

from ambient.approvals.executors import (
    ExecutionError,
    ExecutionResult,
    PermanentExecutionError,
)
from ambient.approvals.journal import DeliveryJournal
from ambient.approvals.kinds import KINDS, ExecutorParts
from ambient.approvals.kinds.mailbox import MailboxKind, MailboxSource, mailbox_sources
from ambient.approvals.tables import Approval
from ambient.core.config import ImapSourceSettings, MaildirSourceSettings, Secrets, Settings
from ambient.core.db import read_session
from ambient.core.errors import NotFoundError
from ambient.core.tables import Item
from ambient.mail import imap_actions
from ambient.mail.imap_connection import IMAP_ERRORS, connect, describe_failure, disconnect
from ambient.mail.mailbox_changes import ActionRefused, ChangeOutcome, MailboxChange, MoveTo
from ambient.sources import maildir_actions

MOVING = "moving"  # the MOVE (or COPY) is being sent: it may have happened if cut here
MOVED = "moved"  # the message is in the target folder


def build_mailbox_executor(parts: ExecutorParts) -> MailboxExecutor:
    """The executor of every mailbox kind (one per process: they share it)."""
    journal = DeliveryJournal(parts.engine, parts.clock)
    return MailboxExecutor(parts.engine, parts.settings, parts.secrets, journal)


@dataclass(frozen=True)
class ItemMessage:
    """The message an item is, as its source recorded it."""

    source: str
    key: str
    message_id: str | None
    metadata: dict[str, Any]

    def imap_ref(self) -> imap_actions.MessageRef:
        def number(name: str) -> int | None:
            value = self.metadata.get(name)
            return int(value) if isinstance(value, int | str) and str(value).isdigit() else None

        mailbox = self.metadata.get("mailbox")
        return imap_actions.MessageRef(
            mailbox=str(mailbox) if mailbox else "INBOX",
            uidvalidity=number("uidvalidity"),
            uid=number("uid"),
            message_id=self.message_id,
        )


class MailboxExecutor:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        secrets: Secrets,
        journal: DeliveryJournal,
        *,
        disabled_capabilities: Collection[str] = frozenset(),  # IMAP ones not to use (tests)
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.secrets = secrets
        self.journal = journal
        self.disabled_capabilities = frozenset(disabled_capabilities)

    async def execute(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        kind = KINDS.of(approval.kind)
        if not isinstance(kind, MailboxKind):
            raise PermanentExecutionError(f"{approval.kind} is not a mailbox action")
        action = kind.parse(approval.effective_args)
        message = await asyncio.to_thread(self._message, approval.item_id)
        source = self._source(message.source)
        try:
            change = kind.change(action, source.archive_folder or None)
            self._check_allowed(change, source)
            if isinstance(source, ImapSourceSettings):
                outcome = await asyncio.to_thread(
                    self._on_imap, source, message, change, idempotency_key
                )
            else:
                outcome = await asyncio.to_thread(self._on_maildir, source, message, change)
        except ActionRefused as refusal:
            raise PermanentExecutionError(f"{source.name}: {refusal}") from None
        details = {"source": source.name, "changed": outcome.changed, **outcome.details}
        return ExecutionResult(f"{source.name}: {outcome.summary}", details)

    # ---- the message and its source -------------------------------------------------------
    def _message(self, item_id: int) -> ItemMessage:
        with read_session(self.engine) as session:
            item = session.get(Item, item_id)
        if item is None:
            raise NotFoundError(f"item {item_id} does not exist")
        metadata = json.loads(item.metadata_json or "{}")
        return ItemMessage(item.source, item.key, item.message_id, metadata)

    def _source(self, name: str) -> MailboxSource:
        for source in mailbox_sources(self.settings):
            if source.name == name:
                return source
        configured = {source.name for source in self.settings.sources}
        if name in configured:
            raise PermanentExecutionError(f"the item comes from {name!r}, which is not a mailbox")
        raise PermanentExecutionError(f"the item's source {name!r} is not configured any more")

    def _elsewhere(self, source: MailboxSource) -> list[str]:
        """Where a move may have put the message: its source's archive folder, the move folders."""
        folders = [source.archive_folder] if source.archive_folder else []
        return [*folders, *self.settings.policy.move_folders]

    def _check_allowed(self, change: MailboxChange, source: MailboxSource) -> None:
        """The policy again, for this source: the gate allows any source's archive folder."""
        if isinstance(change, MoveTo) and change.folder not in self._elsewhere(source):
            raise ActionRefused(
                f"{change.folder!r} is neither in policy.move_folders nor {source.name}'s "
                "archive_folder"
            )

    # ---- IMAP -----------------------------------------------------------------------------
    def _on_imap(
        self, source: ImapSourceSettings, message: ItemMessage, change: MailboxChange, key: str
    ) -> ChangeOutcome:
        ref = message.imap_ref()
        client = connect(source, self.secrets.get(source.password_env))
        try:
            elsewhere = self._elsewhere(source)
            if isinstance(change, MoveTo):
                return self._move_on_imap(client, ref, change.folder, elsewhere, key)
            return imap_actions.set_flag(
                client, ref, change.flag, change.present, elsewhere=elsewhere
            )
        except IMAP_ERRORS as error:
            raise ExecutionError(describe_failure(source, error)) from error
        finally:
            disconnect(client)

    def _move_on_imap(
        self,
        client: IMAPClient,
        ref: imap_actions.MessageRef,
        folder: str,
        elsewhere: list[str],
        key: str,
    ) -> ChangeOutcome:
        resuming = self.journal.stage(key) == MOVING
        outcome = imap_actions.move(
            client,
            ref,
            folder,
            elsewhere=elsewhere,
            create_folder=self.settings.policy.create_folders,
            resuming=resuming,
            before_moving=lambda: self.journal.mark(key, MOVING),
            disabled=self.disabled_capabilities,
        )
        if resuming and not outcome.changed:
            summary = f"moved to {folder} (before a restart)"
            outcome = ChangeOutcome(True, summary, {**outcome.details, "recovered": True})
        if outcome.changed:
            self.journal.mark(key, MOVED)
        return outcome

    # ---- Maildir --------------------------------------------------------------------------
    def _on_maildir(
        self, source: MaildirSourceSettings, message: ItemMessage, change: MailboxChange
    ) -> ChangeOutcome:
        if not source.owned:
            raise ActionRefused(
                "ambient only reads this Maildir (owned = false): it changes nothing in it"
            )
        root = self.settings.source_path(source)
        folders = [maildir_actions.INBOX, *self._elsewhere(source)]
        if isinstance(change, MoveTo):
            create = self.settings.policy.create_folders
            return maildir_actions.move(
                root, message.key, change.folder, folders=folders, create_folder=create
            )
        return maildir_actions.set_flag(
            root, message.key, change.flag, change.present, folders=folders
        )
