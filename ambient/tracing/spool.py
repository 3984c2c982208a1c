"""The durable spool: spans and scores wait here until every destination has accepted them.

Writers (the span exporter in any process, `score_decision` in the TUI) append rows; the
forwarder reads them in order for each destination (Langfuse, an OTLP endpoint) with that
destination's own cursor: it leases the cursor (a token of its own beside the expiry), posts a
batch, and moves the cursor on only after a 2xx. A crash between post and acknowledgement
re-sends the batch once the lease runs out: delivery is at least once, and the backends
de-duplicate by span and score id. Several forwarders (daemons on one PostgreSQL database, a CLI
command) take turns on a cursor's row lock: one lease at a time, settled only by its holder,
and a cursor never moves back.

A row is deleted once every destination that takes its kind has it: the ones this process
knows and every cursor in the table (another process's destination), so a backend that is down
keeps its rows without holding back the others. The daemon retires, at start-up, the cursors
of destinations it does not have configured (:meth:`Spool.retire_others`): every daemon on one
database should have the same destinations.

The spool is bounded (``tracing.spool_max_rows``). When it is full and one destination is
behind another of the same kind, that one loses its oldest rows: its cursor moves past them,
with a warning naming it, so the destinations that keep up still get every new span. Only when
no destination is ahead of another (every backend down, or only one configured) are new rows
dropped, with a warning, rather than filling the disk.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, case, func, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, delete, select, update

from ambient.core.clock import Clock
from ambient.core.db import read_session, write_session
from ambient.tracing.tables import SpoolCursor, SpoolEntry, SpoolKind

log = logging.getLogger(__name__)

FULL_WARNING_EVERY_SECONDS = 60.0
# PostgreSQL hands out ids before commit: appends take turns so rows commit in id order and a
# cursor never passes a row that is still being written
APPEND_LOCK_KEY = 7406915219
# a full spool frees this share of its rows at a time from the destination furthest behind
ROOM_SHARE = 100


@dataclass(frozen=True)
class SpooledBatch:
    destination: str
    kind: SpoolKind
    ids: list[int]
    payloads: list[bytes]
    records: int
    lease: str = ""  # the claim's token: only it frees the cursor's lease


@dataclass(frozen=True)
class SpoolCounts:
    rows: int
    spans: int
    scores: int
    oldest: datetime | None


class Spool:
    def __init__(self, engine: Engine, clock: Clock, max_rows: int) -> None:
        self.engine = engine
        self.clock = clock
        self.max_rows = max_rows
        self.dropped = 0
        self._lock = threading.Lock()
        self._last_full_warning = 0.0

    # ---- writers ------------------------------------------------------------------------
    def append(self, kind: SpoolKind, payload: bytes, records: int) -> bool:
        """Keep a payload until it is delivered; False (and a warning) when the spool is full."""
        with write_session(self.engine) as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY})"))
            rows = _rows(session)
            if rows >= self.max_rows and self._make_room(session, rows):
                rows = _rows(session)
            if rows >= self.max_rows:
                self._warn_full(rows, records)
                return False
            session.add(
                SpoolEntry(kind=kind, payload=payload, records=records, created_at=self.clock.now())
            )
        return True

    def _make_room(self, session: Session, rows: int) -> bool:
        """The full spool's oldest rows that only the destination(s) furthest behind still need
        are dropped (their cursor moves past them); False when no destination is ahead of
        another of its kind."""
        positions: dict[SpoolKind, dict[str, int]] = {}
        for cursor in session.exec(select(SpoolCursor)).all():
            positions.setdefault(cursor.kind, {})[cursor.destination] = cursor.delivered_id
        behind = sorted((min(delivered.values()), kind) for kind, delivered in positions.items())
        for low, kind in behind:
            ahead = min((at for at in positions[kind].values() if at > low), default=low)
            dropped = session.exec(
                select(SpoolEntry.id, SpoolEntry.records)
                .where(SpoolEntry.kind == kind)
                .where(col(SpoolEntry.id) > low, col(SpoolEntry.id) <= ahead)
                .order_by(col(SpoolEntry.id))
                .limit(max(1, self.max_rows // ROOM_SHARE))
            ).all()
            if not dropped:
                continue
            past = dropped[-1][0]
            assert past is not None
            _move_on(session, [col(SpoolCursor.kind) == kind], past)
            _forget_delivered(session, kind, ())
            names = sorted(name for name, at in positions[kind].items() if at == low)
            log.warning(
                "tracing spool full (%d rows, tracing.spool_max_rows=%d): dropping the oldest "
                "%d %s(s) only %s still needed; is it reachable?",
                rows,
                self.max_rows,
                sum(records for _, records in dropped),
                "span" if kind is SpoolKind.SPANS else kind.value,
                " and ".join(names),
            )
            return True
        return False

    def _warn_full(self, rows: int, records: int) -> None:
        with self._lock:
            self.dropped += records
            now = time.monotonic()
            if (
                now - self._last_full_warning < FULL_WARNING_EVERY_SECONDS
                and self.dropped > records
            ):
                return
            self._last_full_warning = now
            dropped = self.dropped
        log.warning(
            "tracing spool full (%d rows, tracing.spool_max_rows=%d): dropping new spans and "
            "scores (%d dropped so far); is every tracing backend reachable?",
            rows,
            self.max_rows,
            dropped,
        )

    # ---- the forwarder ------------------------------------------------------------------
    def claim(
        self,
        destination: str,
        kind: SpoolKind,
        *,
        max_bytes: int,
        lease_seconds: float,
        max_rows: int = 500,
    ) -> SpooledBatch | None:
        """The oldest rows of one kind this destination has not had, up to max_bytes (always at
        least one row), its cursor leased meanwhile; None when there are none or another
        forwarder holds the lease."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            cursor = _locked_cursor(session, destination, kind)
            if cursor is None:  # retired just now by a daemon starting: made again next time
                return None
            if cursor.lease_expires_at is not None and cursor.lease_expires_at > now:
                return None
            due = session.exec(
                select(SpoolEntry.id, func.length(SpoolEntry.payload))
                .where(SpoolEntry.kind == kind)
                .where(col(SpoolEntry.id) > cursor.delivered_id)
                .order_by(col(SpoolEntry.id))
                .limit(max_rows)
            ).all()
            chosen: list[int] = []
            size = 0
            for row_id, length in due:
                if chosen and size + int(length or 0) > max_bytes:
                    break
                assert row_id is not None
                chosen.append(row_id)
                size += int(length or 0)
            if not chosen:
                return None
            rows = session.exec(
                select(SpoolEntry)
                .where(col(SpoolEntry.id).in_(chosen))
                .order_by(col(SpoolEntry.id))
            ).all()
            lease = uuid.uuid4().hex
            cursor.lease_expires_at = now + timedelta(seconds=lease_seconds)
            cursor.lease_owner = lease
            session.add(cursor)
            return SpooledBatch(
                destination=destination,
                kind=kind,
                ids=[row.id for row in rows if row.id is not None],
                payloads=[row.payload for row in rows],
                records=sum(row.records for row in rows),
                lease=lease,
            )

    def acknowledge(self, batch: SpooledBatch, readers: Collection[str]) -> None:
        """The destination accepted the batch (or refused it for good): its cursor moves past
        it (never back), and the rows of this kind that every reader has are forgotten: the
        readers this process knows and every destination with a cursor in the table."""
        with write_session(self.engine) as session:
            _insert_cursor(session, batch.destination, batch.kind)  # retired meanwhile
            _move_on(session, _key(batch), batch.ids[-1], failures=0, last_error=None)
            _free_lease(session, batch)
            _forget_delivered(session, batch.kind, {*readers, batch.destination})

    def release(self, batch: SpooledBatch, error: str) -> None:
        """Delivery failed: the cursor stays, due again at once (the forwarder backs off)."""
        with write_session(self.engine) as session:
            session.exec(
                update(SpoolCursor)
                .where(*_key(batch))
                .values(failures=col(SpoolCursor.failures) + 1, last_error=error[:1000])
                .execution_options(synchronize_session=False)
            )
            _free_lease(session, batch)

    def retire_others(self, keep: Iterable[tuple[str, SpoolKind]]) -> list[str]:
        """The daemon at start-up: the cursors of `keep` (destination, kind) are the spool's
        only ones (created, before every row, if missing); every other destination's is
        removed, with one log line naming them, and the rows it alone held are forgotten.
        Returns the retired destinations."""
        kept = set(keep)
        with write_session(self.engine) as session:
            for destination, kind in sorted(kept):
                _insert_cursor(session, destination, kind)
            cursors = session.exec(select(SpoolCursor)).all()
            stale = [cursor for cursor in cursors if (cursor.destination, cursor.kind) not in kept]
            for cursor in stale:
                session.delete(cursor)
            session.flush()
            for kind in {cursor.kind for cursor in stale}:
                _forget_delivered(session, kind, ())
        retired = sorted({cursor.destination for cursor in stale})
        if retired:
            log.warning(
                "tracing: %s not configured in this daemon: the spool keeps nothing for %s "
                "any more",
                " and ".join(retired),
                "them" if len(retired) > 1 else "it",
            )
        return retired

    def pending(self, destination: str, kind: SpoolKind) -> int:
        """How many records of this kind the destination has not had yet."""
        with read_session(self.engine) as session:
            cursor = session.get(SpoolCursor, (destination, kind))
            after = cursor.delivered_id if cursor is not None else 0
            total = session.exec(
                select(func.sum(SpoolEntry.records))
                .where(SpoolEntry.kind == kind)
                .where(col(SpoolEntry.id) > after)
            ).one()
        return int(total or 0)

    def counts(self) -> SpoolCounts:
        with read_session(self.engine) as session:
            rows = session.exec(
                select(
                    SpoolEntry.kind, func.count(col(SpoolEntry.id)), func.sum(SpoolEntry.records)
                ).group_by(SpoolEntry.kind)
            ).all()
            oldest = session.exec(select(func.min(SpoolEntry.created_at))).one()
        by_kind = {SpoolKind(kind): (int(count), int(total or 0)) for kind, count, total in rows}
        return SpoolCounts(
            rows=sum(count for count, _ in by_kind.values()),
            spans=by_kind.get(SpoolKind.SPANS, (0, 0))[1],
            scores=by_kind.get(SpoolKind.SCORE, (0, 0))[1],
            oldest=oldest,
        )


def _rows(session: Session) -> int:
    return session.exec(select(func.count(col(SpoolEntry.id)))).one()


def _key(batch: SpooledBatch) -> list[ColumnElement[bool]]:
    return [
        col(SpoolCursor.destination) == batch.destination,
        col(SpoolCursor.kind) == batch.kind,
    ]


def _insert_cursor(session: Session, destination: str, kind: SpoolKind) -> None:
    """The destination's cursor for this kind, before every row, unless it exists (two
    forwarders may both try: one wins, the other waits for it and does nothing)."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {"destination": destination, "kind": kind, "delivered_id": 0, "failures": 0}
    session.exec(insert(SpoolCursor).values(**values).on_conflict_do_nothing())


def _locked_cursor(session: Session, destination: str, kind: SpoolKind) -> SpoolCursor | None:
    """The destination's cursor for this kind, locked for this transaction (created first)."""
    _insert_cursor(session, destination, kind)
    query = select(SpoolCursor).where(
        SpoolCursor.destination == destination, SpoolCursor.kind == kind
    )
    if session.get_bind().dialect.name != "sqlite":  # SQLite: BEGIN IMMEDIATE locked it all
        query = query.with_for_update()
    return session.exec(query).first()


def _move_on(session: Session, where: list[ColumnElement[bool]], past: int, **values: Any) -> None:
    """Cursors move past row `past`, never back: max() in the UPDATE, under its row lock."""
    delivered = col(SpoolCursor.delivered_id)
    session.exec(
        update(SpoolCursor)
        .where(*where)
        .values(delivered_id=case((delivered < past, past), else_=delivered), **values)
        .execution_options(synchronize_session=False)
    )


def _free_lease(session: Session, batch: SpooledBatch) -> None:
    """The batch is settled: its lease ends, unless another forwarder took the cursor over."""
    session.exec(
        update(SpoolCursor)
        .where(*_key(batch), col(SpoolCursor.lease_owner) == batch.lease)
        .values(lease_expires_at=None, lease_owner=None)
        .execution_options(synchronize_session=False)
    )


def _forget_delivered(session: Session, kind: SpoolKind, readers: Collection[str]) -> None:
    """Delete the rows of this kind every reader has: `readers` (0 for one without a cursor
    yet) and every destination with a cursor. None without any reader."""
    delivered = dict(
        session.exec(
            select(SpoolCursor.destination, SpoolCursor.delivered_id).where(
                SpoolCursor.kind == kind
            )
        ).all()
    )
    names = {*readers, *delivered}
    if not names:
        return
    everyone_has = min(delivered.get(name, 0) for name in names)
    session.exec(
        delete(SpoolEntry)
        .where(col(SpoolEntry.kind) == kind)
        .where(col(SpoolEntry.id) <= everyone_has)
    )
