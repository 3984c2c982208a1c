"""The durable spool: spans and scores wait here until every destination has accepted them.

Writers (the span exporter in any process, `score_decision` in the TUI) append rows; the
forwarder in the daemon reads them in order for each destination (Langfuse, an OTLP endpoint)
with that destination's own cursor: it leases the cursor, posts a batch, and moves the cursor
on only after a 2xx. A row is deleted once every destination that takes its kind has it, so a
backend that is down keeps its rows without holding back the others. A crash between post and
acknowledgement re-sends the batch once the lease runs out: delivery is at least once, and the
backends de-duplicate by span and score id. The spool is bounded: when it is full, new rows are
dropped with a warning rather than filling the disk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, text
from sqlmodel import Session, col, delete, select

from ambient.core.clock import Clock
from ambient.core.db import read_session, write_session
from ambient.tracing.tables import SpoolCursor, SpoolEntry, SpoolKind

log = logging.getLogger(__name__)

FULL_WARNING_EVERY_SECONDS = 60.0
# PostgreSQL hands out ids before commit: appends take turns so rows commit in id order and a
# cursor never passes a row that is still being written
APPEND_LOCK_KEY = 7406915219


@dataclass(frozen=True)
class SpooledBatch:
    destination: str
    kind: SpoolKind
    ids: list[int]
    payloads: list[bytes]
    records: int


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
            rows = session.exec(select(func.count(col(SpoolEntry.id)))).one()
            if rows >= self.max_rows:
                self._warn_full(rows, records)
                return False
            session.add(
                SpoolEntry(kind=kind, payload=payload, records=records, created_at=self.clock.now())
            )
        return True

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
            cursor = _cursor(session, destination, kind)
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
            cursor.lease_expires_at = now + timedelta(seconds=lease_seconds)
            session.add(cursor)
            return SpooledBatch(
                destination=destination,
                kind=kind,
                ids=[row.id for row in rows if row.id is not None],
                payloads=[row.payload for row in rows],
                records=sum(row.records for row in rows),
            )

    def acknowledge(self, batch: SpooledBatch, readers: Collection[str]) -> None:
        """The destination accepted the batch (or refused it for good): its cursor moves past
        it, and the rows every reader of this kind now has are forgotten."""
        with write_session(self.engine) as session:
            cursor = _cursor(session, batch.destination, batch.kind)
            cursor.delivered_id = max(cursor.delivered_id, batch.ids[-1])
            cursor.lease_expires_at = None
            cursor.failures = 0
            cursor.last_error = None
            session.add(cursor)
            session.flush()
            delivered = {
                row.destination: row.delivered_id
                for row in session.exec(
                    select(SpoolCursor).where(SpoolCursor.kind == batch.kind)
                ).all()
            }
            everyone_has = min(delivered.get(reader, 0) for reader in {*readers, batch.destination})
            session.exec(
                delete(SpoolEntry)
                .where(col(SpoolEntry.kind) == batch.kind)
                .where(col(SpoolEntry.id) <= everyone_has)
            )

    def release(self, batch: SpooledBatch, error: str) -> None:
        """Delivery failed: the cursor stays, due again at once (the forwarder backs off)."""
        with write_session(self.engine) as session:
            cursor = _cursor(session, batch.destination, batch.kind)
            cursor.lease_expires_at = None
            cursor.failures += 1
            cursor.last_error = error[:1000]
            session.add(cursor)

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


def _cursor(session: Session, destination: str, kind: SpoolKind) -> SpoolCursor:
    """The destination's cursor for this kind; a new destination starts before every row."""
    cursor = session.get(SpoolCursor, (destination, kind))
    return cursor or SpoolCursor(destination=destination, kind=kind)
