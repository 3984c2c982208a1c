"""An IMAP account as a source: polling on the schedule, IMAP IDLE for push, several mailboxes.

Ledger key per message: ``account/mailbox/UIDVALIDITY/UID``; the Message-ID travels in
``InboundItem.message_id`` (the ledger treats a known Message-ID under a new key as a
duplicate). What to read is decided per mailbox by :mod:`imap_sync` (cursor, UIDVALIDITY).

Ambient never changes the mailbox unless told to: ``mark_seen`` adds ``\\Seen`` and
``processed_keyword`` adds a keyword once the ledger has recorded a message (``acknowledge``).
Mailboxes are read with EXAMINE and ``BODY.PEEK[]``, so nothing else changes.

IMAPClient is blocking: polls run in a worker thread over one connection kept between polls
(reconnected once when the server dropped it), IDLE in one thread and connection per mailbox
(:mod:`imap_idle`). Every failure is a :class:`SourceError` naming the account and the cause;
the password (resolved from ``password_env`` by the caller) is never logged.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar

from imapclient import IMAPClient

from ambient.core.clock import Clock
from ambient.core.config import ImapSourceSettings
from ambient.core.errors import SourceError
from ambient.core.items import InboundItem
from ambient.mail import imap_mailbox
from ambient.mail.imap_connection import (
    CONNECTION_ERRORS,
    account_label,
    connect,
    describe_failure,
    disconnect,
)
from ambient.mail.smtp import LOOPBACK
from ambient.sources.base import KnownKeys
from ambient.sources.imap_idle import IdleWatcher
from ambient.sources.imap_sync import MailboxSync
from ambient.sources.state import SourceStateStore

log = logging.getLogger(__name__)

POLL_BATCH = 200  # messages per poll call; the daemon keeps polling while batches are full
WAKE_RETRY_SECONDS = 0.25
WAKE_RETRIES = 40
STOP_SECONDS = 10.0

Result = TypeVar("Result")


class _Dropped(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class ImapSource:
    def __init__(
        self,
        settings: ImapSourceSettings,
        password: str | None,
        state: SourceStateStore,
        clock: Clock,
    ) -> None:
        self.name = settings.name
        self.settings = settings
        self._password = password
        self.state = state
        self.clock = clock
        self._client: IMAPClient | None = None
        self._lock = threading.Lock()  # one command stream on the poll connection at a time
        self._syncs: dict[str, MailboxSync] | None = None
        self._mailbox_errors: list[str] = []
        self._poll_started_at = 0.0
        self._wake_wanted_at = 0.0
        self.watchers: list[IdleWatcher] = []
        if settings.security == "none" and settings.host not in LOOPBACK:
            log.warning("%s: security = none: the password crosses the network in clear", self)

    def __repr__(self) -> str:
        return f"ImapSource({account_label(self.settings)})"

    # ---- the poll connection ------------------------------------------------------------
    def _connected(self) -> IMAPClient:
        if self._client is None:
            self._client = connect(self.settings, self._password)
        return self._client

    def _drop_connection(self) -> None:
        client, self._client = self._client, None
        disconnect(client)

    def _command(self, action: Callable[[IMAPClient], Result]) -> Result:
        """Run ``action`` on the poll connection; reconnect once if the server dropped it."""
        with self._lock:
            reused = self._client is not None
            try:
                return self._attempt(action)
            except _Dropped as dropped:
                if not reused:
                    raise SourceError(describe_failure(self.settings, dropped.cause)) from dropped
                log.info("%s: the connection was dropped (%s); reconnecting", self.name, dropped)
            try:
                return self._attempt(action)
            except _Dropped as dropped:
                raise SourceError(describe_failure(self.settings, dropped.cause)) from dropped

    def _attempt(self, action: Callable[[IMAPClient], Result]) -> Result:
        try:
            return action(self._connected())
        except CONNECTION_ERRORS as error:
            self._drop_connection()
            raise _Dropped(error) from error
        except imaplib.IMAP4.error as error:  # a command the server refused
            raise SourceError(describe_failure(self.settings, error)) from error

    # ---- polling ------------------------------------------------------------------------
    def _mailbox_syncs(self) -> dict[str, MailboxSync]:
        if self._syncs is None:
            cursors = self.state.mailbox_cursors(self.name)
            self._syncs = {
                mailbox: MailboxSync(
                    self.name,
                    mailbox,
                    cursors.get(mailbox),
                    initial_sync=self.settings.initial_sync,
                    known_message_ids=self.state.known_message_ids,
                    clock=self.clock,
                )
                for mailbox in self.settings.mailboxes
            }
        return self._syncs

    def _collect(self, client: IMAPClient, known: KnownKeys) -> list[InboundItem]:
        items: list[InboundItem] = []
        self._mailbox_errors = []
        for mailbox, sync in self._mailbox_syncs().items():
            if len(items) >= POLL_BATCH:
                break
            try:
                batch, cursor = sync.next_batch(client, known, POLL_BATCH - len(items))
            except CONNECTION_ERRORS:
                raise
            except imaplib.IMAP4.error as error:  # this mailbox only (e.g. it does not exist)
                message = describe_failure(self.settings, error)
                self._mailbox_errors.append(f"{message} (mailbox {mailbox!r})")
                continue
            if cursor is not None:
                self.state.save_mailbox_cursor(self.name, mailbox, cursor)
            items.extend(batch)
        if self._mailbox_errors and not items:
            raise SourceError("; ".join(self._mailbox_errors))
        return items

    def _poll(self, known: KnownKeys) -> list[InboundItem]:
        self._poll_started_at = time.monotonic()
        items = self._command(lambda client: self._collect(client, known))
        if items:
            log.info("%s: %d message(s) fetched", self.name, len(items))
        return items

    async def poll(self, known: KnownKeys) -> list[InboundItem]:
        return await asyncio.to_thread(self._poll, known)

    # ---- after the ledger recorded a batch ----------------------------------------------
    def _acknowledge(self, keys: Collection[str]) -> None:
        flagged: dict[str, tuple[int, list[int]]] = {}
        for mailbox, sync in self._mailbox_syncs().items():
            uids, cursor = sync.acknowledged(keys)
            if cursor is not None:
                self.state.save_mailbox_cursor(self.name, mailbox, cursor)
            if uids and sync.plan is not None:
                flagged[mailbox] = (sync.plan.uidvalidity, uids)
        flags = self._flags_to_add()
        if flags and flagged:
            self._command(lambda client: self._add_flags(client, flagged, flags))
        errors, self._mailbox_errors = self._mailbox_errors, []
        if errors:  # raised once the other mailboxes' items are safe in the ledger
            raise SourceError("; ".join(errors))

    def _flags_to_add(self) -> list[str]:
        flags = [self.settings.processed_keyword] if self.settings.processed_keyword else []
        return [*flags, "\\Seen"] if self.settings.mark_seen else flags

    def _add_flags(
        self, client: IMAPClient, flagged: dict[str, tuple[int, list[int]]], flags: list[str]
    ) -> None:
        for mailbox, (uidvalidity, uids) in flagged.items():
            status = imap_mailbox.select(client, mailbox, readonly=False)
            if status.uidvalidity != uidvalidity:
                log.warning("%s/%s: UIDVALIDITY changed; flags not set", self.name, mailbox)
                continue
            client.add_flags(uids, flags, silent=True)
            log.info("%s/%s: %s added to %d message(s)", self.name, mailbox, flags, len(uids))

    async def acknowledge(self, keys: list[str]) -> None:
        if keys or self._mailbox_errors:
            await asyncio.to_thread(self._acknowledge, keys)

    # ---- push ---------------------------------------------------------------------------
    async def watch(self, wake: Callable[[], Awaitable[None]]) -> None:
        """IDLE on every mailbox until cancelled; each announcement becomes ``wake()``."""
        if not self.settings.idle or not self._password:
            return  # without a password the polls report the error; IDLE would only repeat it
        loop = asyncio.get_running_loop()
        pending = asyncio.Event()

        def notify() -> None:  # called from the IDLE threads
            self._wake_wanted_at = time.monotonic()
            try:
                loop.call_soon_threadsafe(pending.set)
            except RuntimeError:
                pass  # the event loop is closing: the daemon is stopping

        self.watchers = [
            IdleWatcher(self.settings, self._password, mailbox, notify)
            for mailbox in self.settings.mailboxes
        ]
        for watcher in self.watchers:
            watcher.start()
        try:
            while True:
                await pending.wait()
                pending.clear()
                if not any(watcher.running for watcher in self.watchers):
                    log.info("%s: no IDLE watcher left; polling on the schedule only", self.name)
                    return
                await self._wake_until_polled(wake)
        finally:
            await self._stop_watchers()

    async def _wake_until_polled(self, wake: Callable[[], Awaitable[None]]) -> None:
        """Wake the daemon; if it skipped the poll (one was running), wake again after it."""
        wanted = self._wake_wanted_at
        await wake()
        for _ in range(WAKE_RETRIES):
            if self._poll_started_at >= wanted:
                return
            await asyncio.sleep(WAKE_RETRY_SECONDS)
            await wake()

    async def _stop_watchers(self) -> None:
        watchers = self.watchers
        for watcher in watchers:
            watcher.stop()

        def join() -> None:
            for watcher in watchers:
                watcher.join(STOP_SECONDS)

        await asyncio.to_thread(join)

    async def close(self) -> None:
        await self._stop_watchers()

        def logout() -> None:
            with self._lock:
                self._drop_connection()

        await asyncio.to_thread(logout)
