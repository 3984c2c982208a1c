"""The item ledger: every item once, its state, and leases so a crash loses nothing.

States: new -> processing -> awaiting_approval -> done, or failed (retried with exponential
backoff) and quarantined after too many attempts, with the last error kept. A worker claims an
item with a lease; an expired lease (crashed worker) puts the item back in the queue, and at
start-up the leases of a dead process on this host end at once (:mod:`ambient.core.leases`).
On SQLite a claim runs under BEGIN IMMEDIATE; on PostgreSQL it uses SELECT ... FOR UPDATE
SKIP LOCKED so several daemons share the work. Nothing is ever deleted by the pipeline.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Connection, Engine, and_, cast, func, or_, text
from sqlmodel import col, select

from ambient.core.clock import Clock
from ambient.core.config import WorkerSettings
from ambient.core.db import is_sqlite, read_session, write_session
from ambient.core.errors import DecisionError, NotFoundError
from ambient.core.ids import trace_id_for_item
from ambient.core.items import InboundItem, ItemState
from ambient.core.leases import LEASE_ENDED, holder_is_dead
from ambient.core.lineage import PRE_RULE_FIRED_LIKE, Lineage
from ambient.core.message import MatchKeys, UnparseableMessage, summarize_headers
from ambient.core.review import Overturn, review_after
from ambient.core.tables import Item, ItemContent, SourceState

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class IngestResult:
    item_id: int
    created: bool
    state: ItemState


@dataclass(frozen=True)
class ClaimedItem:
    """An item a worker holds a lease on, with everything needed to process it."""

    id: int
    source: str
    key: str
    kind: str
    raw: bytes
    message_id: str | None
    thread_key: str | None
    trace_id: str
    attempts: int
    lease_owner: str
    metadata: dict[str, Any] = field(default_factory=dict)
    overturn: Overturn | None = None  # the human overturned its ignore: they want action


@dataclass(frozen=True)
class Completion:
    item_id: int
    owner: str
    state: ItemState
    triage: dict[str, Any] | None = None
    lineage: Lineage | None = None  # what produced the triage, kept on the item


@dataclass(frozen=True)
class LedgerCounts:
    by_state: dict[str, int]
    by_source: dict[str, dict[str, int]]


def _chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    """Slices small enough for an IN (...) list on every backend."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def first_items_by_message_id(session: Any, message_ids: Collection[str]) -> dict[str, int]:
    """The first item holding each of these Message-IDs, from any source (the dedup rule)."""
    known: dict[str, int] = {}
    for chunk in _chunks(sorted(set(message_ids))):
        rows = session.exec(
            select(Item.message_id, func.min(Item.id))
            .where(col(Item.message_id).in_(chunk))
            .group_by(Item.message_id)
        )
        known.update({message_id: item_id for message_id, item_id in rows})
    return known


def _backoff(settings: WorkerSettings, attempts: int) -> timedelta:
    seconds = settings.backoff_seconds * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, settings.backoff_max_seconds))


def _describe(item: InboundItem) -> tuple[dict[str, Any], str | None]:
    """Row fields parsed from the bytes, and why the item is unusable (None if it is fine)."""
    if item.parse_error:
        return {}, item.parse_error
    if item.kind != "email":
        subject = str(item.metadata.get("subject", ""))[:2000]
        sender = str(item.metadata.get("sender", ""))[:1000]
        keys = MatchKeys.of_header(sender, subject)
        return {"subject": subject, "sender": sender, **keys.columns()}, None
    try:
        headers = summarize_headers(item.raw)
    except UnparseableMessage as error:
        return {}, str(error)
    return {
        "subject": headers.subject[:2000],
        "sender": headers.sender[:1000],
        "message_id": item.message_id or headers.message_id,
        "thread_key": headers.thread_key[:1000] if headers.thread_key else None,
        "received_at": item.received_at or headers.date,
        **MatchKeys.of(headers.sender_address, headers.subject).columns(),
    }, None


class Ledger:
    def __init__(self, engine: Engine, clock: Clock, settings: WorkerSettings) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings

    # ---- ingest -------------------------------------------------------------------------
    def ingest(self, item: InboundItem) -> IngestResult:
        return self.ingest_many([item])[0]

    def ingest_many(self, items: Sequence[InboundItem]) -> list[IngestResult]:
        """Record items; an item already in the ledger (same source and key) is not re-added.

        An item whose Message-ID the ledger already holds from another key (a duplicate
        delivery, a mailbox recreated with new UIDs) is recorded but not processed again.
        Bytes that are not an email are recorded as quarantined, with the bytes kept.
        """
        results: list[IngestResult] = []
        if not items:
            return results
        now = self.clock.now()
        described = [_describe(inbound) for inbound in items]  # parse outside the write lock
        with write_session(self.engine) as session:
            existing = self._existing(session, items)
            known_ids = first_items_by_message_id(
                session, [str(f.get("message_id")) for f, _ in described if f.get("message_id")]
            )
            for inbound, (fields, problem) in zip(items, described, strict=True):
                found = existing.get((inbound.source, inbound.key))
                if found is not None:
                    results.append(IngestResult(found[0], False, found[1]))
                    continue
                row = Item(
                    source=inbound.source,
                    key=inbound.key,
                    kind=inbound.kind,
                    created_at=now,
                    updated_at=now,
                    trace_id=trace_id_for_item(inbound.source, inbound.key),
                    metadata_json=json.dumps(inbound.metadata, default=str),
                    **fields,
                )
                if problem is not None:
                    row.state = ItemState.QUARANTINED
                    row.last_error = f"unparseable: {problem}"[:MAX_ERROR_CHARS]
                elif row.message_id:
                    duplicate = known_ids.get(row.message_id)
                    if duplicate is not None:
                        row.state = ItemState.DONE
                        row.triage_json = json.dumps(
                            {
                                "decision": "ignore",
                                "reason": f"duplicate of item {duplicate} (same Message-ID)",
                                "priority": "low",
                                "summary": "duplicate delivery",
                            }
                        )
                session.add(row)
                session.flush()
                assert row.id is not None
                session.add(ItemContent(item_id=row.id, raw=inbound.raw))
                existing[(row.source, row.key)] = (row.id, row.state)
                if row.message_id:
                    known_ids.setdefault(row.message_id, row.id)
                results.append(IngestResult(row.id, True, row.state))
                log.info(
                    "ingested item=%s source=%s state=%s trace=%s",
                    row.id,
                    row.source,
                    row.state.value,
                    row.trace_id,
                )
        return results

    @staticmethod
    def _existing(
        session: Any, items: Sequence[InboundItem]
    ) -> dict[tuple[str, str], tuple[int, ItemState]]:
        found: dict[tuple[str, str], tuple[int, ItemState]] = {}
        for source in {item.source for item in items}:
            keys = [item.key for item in items if item.source == source]
            for chunk in _chunks(keys):
                rows = session.exec(
                    select(Item.id, Item.key, Item.state).where(
                        Item.source == source, col(Item.key).in_(chunk)
                    )
                )
                for item_id, key, state in rows:
                    found[(source, key)] = (item_id, ItemState(state))
        return found

    # ---- claims and leases --------------------------------------------------------------
    def _claimable(self, now: datetime) -> Any:
        state = col(Item.state)
        return or_(
            state == ItemState.NEW,
            and_(state == ItemState.FAILED, col(Item.next_attempt_at) <= now),
            and_(state == ItemState.PROCESSING, col(Item.lease_expires_at) < now),
        )

    def claim(self, owner: str, limit: int) -> list[ClaimedItem]:
        """Lease up to `limit` items that are due, oldest first."""
        if limit <= 0:
            return []
        now = self.clock.now()
        claimed: list[ClaimedItem] = []
        with write_session(self.engine) as session:
            query = select(Item).where(self._claimable(now)).order_by(col(Item.id)).limit(limit)
            if not is_sqlite(self.engine):
                query = query.with_for_update(skip_locked=True)
            rows = list(session.exec(query))
            contents = {
                content.item_id: content.raw
                for content in session.exec(
                    select(ItemContent).where(col(ItemContent.item_id).in_([r.id for r in rows]))
                )
            }
            for row in rows:
                assert row.id is not None
                if row.state == ItemState.PROCESSING and row.attempts >= self.settings.max_attempts:
                    self._quarantine(row, now, "lease expired too many times (worker crashed?)")
                    continue
                if row.state == ItemState.PROCESSING:
                    log.warning(
                        "lease expired item=%s owner=%s; reclaiming", row.id, row.lease_owner
                    )
                row.state = ItemState.PROCESSING
                row.lease_owner = owner
                row.lease_expires_at = now + timedelta(seconds=self.settings.lease_seconds)
                row.attempts += 1
                row.updated_at = now
                session.add(row)
                claimed.append(
                    ClaimedItem(
                        id=row.id,
                        source=row.source,
                        key=row.key,
                        kind=row.kind,
                        raw=contents.get(row.id, b""),
                        message_id=row.message_id,
                        thread_key=row.thread_key,
                        trace_id=row.trace_id or trace_id_for_item(row.source, row.key),
                        attempts=row.attempts,
                        lease_owner=owner,
                        metadata=json.loads(row.metadata_json or "{}"),
                        overturn=Overturn.from_json(row.overturn_json),
                    )
                )
        return claimed

    def reclaim_dead_leases(self, is_dead: Callable[[str], bool] = holder_is_dead) -> list[int]:
        """At start-up: end at once the leases of holders that are surely dead (a process on
        this host that is gone), so their items need not wait out ``lease_seconds``. The next
        claim takes them as it takes an expired lease (the attempt counts). Leases of other
        hosts' processes are left to expire. Returns the reclaimed item ids."""
        now = self.clock.now()
        by_holder: dict[str, list[int]] = {}
        with write_session(self.engine) as session:
            query = select(Item).where(
                Item.state == ItemState.PROCESSING, col(Item.lease_expires_at) >= now
            )
            for row in session.exec(query):
                holder = row.lease_owner or ""
                if row.id is None or not is_dead(holder):
                    continue
                row.lease_expires_at = now - LEASE_ENDED
                session.add(row)
                by_holder.setdefault(holder, []).append(row.id)
        for holder, item_ids in by_holder.items():
            log.warning(
                "%s is no longer running on this host: its leases of %d item(s) end now: %s",
                holder,
                len(item_ids),
                ", ".join(map(str, item_ids[:20])) + (" …" if len(item_ids) > 20 else ""),
            )
        return [item_id for item_ids in by_holder.values() for item_id in item_ids]

    def _held(self, session: Any, item_id: int, owner: str) -> Item | None:
        row: Item | None = session.get(Item, item_id)
        if row is None or row.state != ItemState.PROCESSING or row.lease_owner != owner:
            log.warning("lease lost item=%s owner=%s; result dropped", item_id, owner)
            return None
        return row

    def extend_lease(self, item_id: int, owner: str) -> bool:
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = self._held(session, item_id, owner)
            if row is None:
                return False
            row.lease_expires_at = now + timedelta(seconds=self.settings.lease_seconds)
            session.add(row)
            return True

    def complete(
        self,
        item_id: int,
        owner: str,
        state: ItemState,
        triage: dict[str, Any] | None = None,
        lineage: Lineage | None = None,
    ) -> bool:
        """Finish processing: awaiting_approval (actions drafted) or done."""
        return self.complete_many([Completion(item_id, owner, state, triage, lineage)])[0]

    def complete_many(self, completions: Sequence[Completion]) -> list[bool]:
        """Finish several items in one transaction; False where the lease was lost."""
        now = self.clock.now()
        stored: list[bool] = []
        with write_session(self.engine) as session:
            for done in completions:
                if done.state not in (ItemState.AWAITING_APPROVAL, ItemState.DONE):
                    raise ValueError(f"complete() cannot move an item to {done.state}")
                row = self._held(session, done.item_id, done.owner)
                if row is None:
                    stored.append(False)
                    continue
                row.state = done.state
                row.lease_owner = None
                row.lease_expires_at = None
                row.last_error = None
                row.updated_at = now
                if done.triage is not None:
                    row.triage_json = json.dumps(done.triage, default=str)
                if done.lineage is not None:
                    row.lineage_json = done.lineage.to_json()
                review = review_after(row.review, done.state, done.triage)
                if review != row.review:
                    row.review, row.reviewed_at = review, None
                session.add(row)
                stored.append(True)
        return stored

    def fail(self, item_id: int, owner: str, error: str, *, retryable: bool = True) -> ItemState:
        """Record an error; retry later with backoff, or quarantine after max attempts."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = self._held(session, item_id, owner)
            if row is None:
                return ItemState.PROCESSING
            if not retryable or row.attempts >= self.settings.max_attempts:
                self._quarantine(row, now, error)
            else:
                row.state = ItemState.FAILED
                row.last_error = error[:MAX_ERROR_CHARS]
                row.next_attempt_at = now + _backoff(self.settings, row.attempts)
                row.lease_owner = None
                row.lease_expires_at = None
                row.updated_at = now
                log.warning(
                    "item failed item=%s attempt=%s retry_at=%s error=%s",
                    item_id,
                    row.attempts,
                    row.next_attempt_at.isoformat(),
                    error[:300],
                )
            session.add(row)
            return row.state

    def _quarantine(self, row: Item, now: datetime, error: str) -> None:
        row.state = ItemState.QUARANTINED
        row.last_error = error[:MAX_ERROR_CHARS]
        row.lease_owner = None
        row.lease_expires_at = None
        row.next_attempt_at = None
        row.updated_at = now
        log.error(
            "item quarantined item=%s attempts=%s error=%s", row.id, row.attempts, error[:300]
        )

    def release(self, item_id: int, owner: str) -> bool:
        """Give an unfinished item back (shutdown): it will be claimed again, attempt not spent."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = self._held(session, item_id, owner)
            if row is None:
                return False
            row.state = ItemState.NEW if row.attempts <= 1 else ItemState.FAILED
            row.attempts = max(row.attempts - 1, 0)
            row.next_attempt_at = now
            row.lease_owner = None
            row.lease_expires_at = None
            row.updated_at = now
            session.add(row)
        log.info("released item=%s owner=%s", item_id, owner)
        return True

    def set_state(self, item_id: int, state: ItemState, note: str | None = None) -> None:
        """Move an item outside a lease (approvals finished, a user retry)."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = session.get(Item, item_id)
            if row is None:
                raise NotFoundError(f"item {item_id} does not exist")
            row.state = state
            if state in (ItemState.NEW, ItemState.FAILED):
                row.next_attempt_at = now
                row.attempts = 0
            if note is not None:
                row.last_error = note
            row.updated_at = now
            session.add(row)

    def retry(self, item_id: int) -> None:
        """A user's retry of a quarantined or failed item: back to new, attempts reset."""
        state = self.get(item_id).state
        if state not in (ItemState.FAILED, ItemState.QUARANTINED):
            raise DecisionError(
                f"item {item_id} is {ItemState(state).value}: only failed or quarantined items "
                "can be retried"
            )
        self.set_state(item_id, ItemState.NEW)

    # ---- reads --------------------------------------------------------------------------
    def get(self, item_id: int) -> Item:
        with read_session(self.engine) as session:
            row = session.get(Item, item_id)
            if row is None:
                raise NotFoundError(f"item {item_id} does not exist")
            return row

    def content(self, item_id: int) -> bytes:
        with read_session(self.engine) as session:
            row = session.get(ItemContent, item_id)
            if row is None:
                raise NotFoundError(f"item {item_id} has no stored content")
            return row.raw

    def items(self, states: Iterable[ItemState] | None = None, limit: int = 100) -> list[Item]:
        with read_session(self.engine) as session:
            query = select(Item).order_by(col(Item.id).desc()).limit(limit)
            if states is not None:
                query = query.where(col(Item.state).in_(list(states)))
            return list(session.exec(query))

    def counts(self) -> LedgerCounts:
        by_state = {state.value: 0 for state in ItemState}
        by_source: dict[str, dict[str, int]] = {}
        with read_session(self.engine) as session:
            rows = session.exec(
                select(Item.source, Item.state, func.count()).group_by(Item.source, Item.state)
            )
            for source, state, count in rows:
                state_name = ItemState(state).value
                by_state[state_name] += count
                by_source.setdefault(source, {})[state_name] = count
        return LedgerCounts(by_state=by_state, by_source=by_source)

    def pre_rule_counts(self) -> dict[str, int]:
        """Items a pre-rule decided without a model call, all time, by the rule's name (the
        ``pre_rule`` of the lineage each keeps)."""
        if is_sqlite(self.engine):
            rule: Any = func.json_extract(col(Item.lineage_json), "$.pre_rule")
        else:
            rule = cast(col(Item.lineage_json), JSON)["pre_rule"].as_string()
        with read_session(self.engine) as session:
            rows = session.exec(
                select(rule, func.count())
                .where(col(Item.lineage_json).like(PRE_RULE_FIRED_LIKE))
                .group_by(rule)
            )
            return {str(name): int(count) for name, count in rows if name}

    def known_keys(self, source: str, keys: Iterable[str]) -> set[str]:
        """Which of these keys of a source the ledger already holds."""
        known: set[str] = set()
        with read_session(self.engine) as session:
            for chunk in _chunks(list(keys)):
                known.update(
                    session.exec(
                        select(Item.key).where(Item.source == source, col(Item.key).in_(chunk))
                    )
                )
        return known

    # ---- sources ------------------------------------------------------------------------
    def try_poll_lock(self, source: str) -> Connection | None | bool:
        """Only one daemon polls a source at a time (PostgreSQL advisory lock per source).

        Returns a handle to pass to release_poll_lock, or False when another daemon holds it.
        On SQLite (one process) there is nothing to take: True.
        """
        if is_sqlite(self.engine):
            return True
        key = int.from_bytes(
            hashlib.sha256(f"poll:{source}".encode()).digest()[:8], "big", signed=True
        )
        connection = self.engine.connect()
        try:
            taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            if taken.scalar():
                connection.info["ambient_poll_lock"] = key
                return connection
        except Exception:
            connection.close()
            raise
        connection.close()
        return False

    @staticmethod
    def release_poll_lock(handle: Connection | None | bool) -> None:
        if isinstance(handle, Connection):
            try:
                key = handle.info.pop("ambient_poll_lock")
                handle.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                handle.commit()
            finally:
                handle.close()

    def record_poll(self, source: str, *, error: str | None = None) -> None:
        """Count a poll and its outcome (the source's cursor is its own: `sources.state`)."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = session.get(SourceState, source) or SourceState(name=source)
            row.last_poll_at = now
            row.polls += 1
            row.last_error = error
            if error is None:
                row.last_ok_at = now
            session.add(row)

    def source_states(self) -> list[SourceState]:
        with read_session(self.engine) as session:
            return list(session.exec(select(SourceState).order_by(col(SourceState.name))))
