"""Deciding which messages of one mailbox to hand the ledger, and remembering how far it got.

Per mailbox the cursor is (UIDVALIDITY, last UID handled). A poll plans a *backlog* of UIDs:

* first contact (no cursor): the unseen messages (``initial_sync = "unseen"``, the default),
  every message (``"all"``) or none (``"new"``: only mail that arrives from now on);
* same UIDVALIDITY: ``UID SEARCH UID last+1:*`` (skipped when UIDNEXT shows nothing new);
* UIDVALIDITY changed (the mailbox was recreated or restored): old UIDs mean nothing now, so
  the Message-IDs of the mailbox are read (headers only) and only messages the ledger does not
  hold by Message-ID are fetched, of those the ones that are unseen or arrived since the last
  sync (or all, with ``initial_sync = "all"``). Nothing is processed twice, nothing new is lost.

The backlog is handed out in batches; the cursor moves (and is saved) only once the ledger has
recorded the whole backlog (``acknowledged``), so a crash or a failed ingest re-reads, never skips.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from imapclient import IMAPClient

from ambient.core.clock import Clock
from ambient.core.items import InboundItem
from ambient.mail import imap_mailbox
from ambient.mail.imap_mailbox import MailboxStatus
from ambient.sources.base import KnownKeys
from ambient.sources.state import MailboxCursor

log = logging.getLogger(__name__)

InitialSync = Literal["unseen", "all", "new"]
KnownMessageIds = Callable[[Collection[str]], set[str]]

RESYNC_SLACK = timedelta(hours=1)
"""After a UIDVALIDITY change, mail dated this long before the last sync still counts as new
(clock skew between ambient and the server)."""


def message_key(account: str, mailbox: str, uidvalidity: int, uid: int) -> str:
    return f"{account}/{mailbox}/{uidvalidity}/{uid}"


@dataclass
class Plan:
    uidvalidity: int
    backlog: list[int]
    target: MailboxCursor


class MailboxSync:
    """The reading state of one mailbox of one account (used from one thread at a time)."""

    def __init__(
        self,
        account: str,
        mailbox: str,
        cursor: MailboxCursor | None,
        *,
        initial_sync: InitialSync,
        known_message_ids: KnownMessageIds,
        clock: Clock,
    ) -> None:
        self.account = account
        self.mailbox = mailbox
        self.committed = cursor
        self.initial_sync = initial_sync
        self.known_message_ids = known_message_ids
        self.clock = clock
        self.plan: Plan | None = None
        self.in_flight: dict[str, int] = {}  # key -> UID of the batch last handed out
        self.uidvalidity_changes = 0

    # ---- planning -------------------------------------------------------------------------
    def _plan(self, client: IMAPClient, status: MailboxStatus) -> Plan:
        cursor = self.committed
        if cursor is None:
            return self._plan_first_contact(client, status)
        if cursor.uidvalidity != status.uidvalidity:
            return self._plan_after_uidvalidity_change(client, status, cursor)
        if status.exists == 0:
            last = max(cursor.last_uid, (status.uidnext or 1) - 1)
            return Plan(status.uidvalidity, [], MailboxCursor(status.uidvalidity, last))
        if status.uidnext is not None and status.uidnext <= cursor.last_uid + 1:
            return Plan(status.uidvalidity, [], cursor)
        uids = imap_mailbox.uids_after(client, cursor.last_uid)
        last = max([cursor.last_uid, *uids])
        return Plan(status.uidvalidity, uids, MailboxCursor(status.uidvalidity, last))

    def _baseline(self, client: IMAPClient, status: MailboxStatus) -> int:
        if status.uidnext is not None:
            return status.uidnext - 1
        return max(imap_mailbox.search(client, ["ALL"]), default=0)

    def _plan_first_contact(self, client: IMAPClient, status: MailboxStatus) -> Plan:
        baseline = self._baseline(client, status)
        uids: list[int] = []
        if status.exists and self.initial_sync == "unseen":
            uids = imap_mailbox.search(client, ["UNSEEN"])
        elif status.exists and self.initial_sync == "all":
            uids = imap_mailbox.search(client, ["ALL"])
        log.info(
            "imap %s/%s: first contact (uidvalidity %d): %d message(s) to read (%s)",
            self.account,
            self.mailbox,
            status.uidvalidity,
            len(uids),
            self.initial_sync,
        )
        target = MailboxCursor(status.uidvalidity, max([baseline, *uids]))
        return Plan(status.uidvalidity, uids, target)

    def _plan_after_uidvalidity_change(
        self, client: IMAPClient, status: MailboxStatus, cursor: MailboxCursor
    ) -> Plan:
        self.uidvalidity_changes += 1
        everything = imap_mailbox.search(client, ["ALL"]) if status.exists else []
        found = imap_mailbox.summaries(client, everything)
        known = self.known_message_ids([m.message_id for m in found if m.message_id])
        since = cursor.synced_at - RESYNC_SLACK if cursor.synced_at else None
        wanted = []
        for message in found:
            if message.message_id is not None and message.message_id in known:
                continue
            recent = (
                since is not None
                and message.internal_date is not None
                and (message.internal_date >= since)
            )
            unseen = self.initial_sync == "unseen" and not message.seen
            if self.initial_sync == "all" or unseen or recent:
                wanted.append(message.uid)
        log.warning(
            "imap %s/%s: UIDVALIDITY changed %d -> %d (mailbox recreated?): %d message(s), "
            "%d already in the ledger by Message-ID, %d to read",
            self.account,
            self.mailbox,
            cursor.uidvalidity,
            status.uidvalidity,
            len(found),
            sum(1 for m in found if m.message_id in known),
            len(wanted),
        )
        last = max([self._baseline(client, status), *everything])
        return Plan(status.uidvalidity, wanted, MailboxCursor(status.uidvalidity, last))

    # ---- batches ------------------------------------------------------------------------
    def next_batch(
        self, client: IMAPClient, known: KnownKeys, limit: int
    ) -> tuple[list[InboundItem], MailboxCursor | None]:
        """Up to ``limit`` items to hand the ledger, and a cursor to save now (if any)."""
        status = imap_mailbox.select(client, self.mailbox, readonly=True)
        if self.plan is not None and self.plan.uidvalidity != status.uidvalidity:
            self.plan = None  # changed in the middle of a backlog: plan again from the cursor
        if self.plan is None or not self.plan.backlog:
            self.plan = self._plan(client, status)
        plan = self.plan
        self.in_flight = {}
        while plan.backlog:
            batch = plan.backlog[:limit]
            keys = {
                uid: message_key(self.account, self.mailbox, plan.uidvalidity, uid) for uid in batch
            }
            held = known(self.account, list(keys.values()))
            batch = [uid for uid in batch if keys[uid] not in held]
            if not batch:
                self._forget(set(plan.backlog[:limit]))
                continue
            chosen = imap_mailbox.within_budget(client, batch)
            messages = imap_mailbox.fetch_messages(client, chosen)
            vanished = set(chosen) - {message.uid for message in messages}
            self._forget(vanished | {uid for uid in plan.backlog[:limit] if keys[uid] in held})
            self.in_flight = {keys[m.uid]: m.uid for m in messages}
            return [self._item(plan.uidvalidity, m) for m in messages], self._drained()
        return [], self._drained()

    def _item(self, uidvalidity: int, message: imap_mailbox.FetchedMessage) -> InboundItem:
        return InboundItem(
            source=self.account,
            key=message_key(self.account, self.mailbox, uidvalidity, message.uid),
            raw=message.raw,
            message_id=message.message_id,
            received_at=message.internal_date,
            parse_error="empty message" if not message.raw.strip() else None,
            metadata={
                "account": self.account,
                "mailbox": self.mailbox,
                "uidvalidity": uidvalidity,
                "uid": message.uid,
                "flags": message.flags,
            },
        )

    def _forget(self, uids: set[int]) -> None:
        if self.plan is not None and uids:
            self.plan.backlog = [uid for uid in self.plan.backlog if uid not in uids]

    def _drained(self) -> MailboxCursor | None:
        """When the backlog is empty, the cursor to save (None if it did not move)."""
        plan = self.plan
        if plan is None or plan.backlog or self.in_flight:
            return None
        target = plan.target
        if self.committed is not None and (
            self.committed.uidvalidity == target.uidvalidity
            and self.committed.last_uid == target.last_uid
        ):
            return None
        self.committed = MailboxCursor(target.uidvalidity, target.last_uid, self.clock.now())
        return self.committed

    def acknowledged(self, keys: Collection[str]) -> tuple[list[int], MailboxCursor | None]:
        """The ledger holds these keys: the UIDs of ours among them, and a cursor to save."""
        uids = [self.in_flight.pop(key) for key in keys if key in self.in_flight]
        self._forget(set(uids))
        return uids, self._drained()
