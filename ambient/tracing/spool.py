"""The durable spool: spans and scores wait here until Langfuse has accepted them.

Writers (the span exporter in any process, `score_decision` in the TUI) append rows; the
forwarder in the daemon claims a batch with a lease, posts it, and deletes it only after a 2xx.
A crash between post and delete re-sends the batch once the lease runs out: delivery is at
least once, and Langfuse de-duplicates by span and score id. The spool is bounded: when it is
full, new rows are dropped with a warning rather than filling the disk.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, or_, update
from sqlmodel import col, delete, select

from ambient.core.clock import Clock
from ambient.core.db import read_session, write_session
from ambient.tracing.tables import SpoolEntry, SpoolKind

log = logging.getLogger(__name__)

FULL_WARNING_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class SpooledBatch:
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
            "scores (%d dropped so far); is Langfuse reachable?",
            rows,
            self.max_rows,
            dropped,
        )

    # ---- the forwarder ------------------------------------------------------------------
    def claim(
        self, kind: SpoolKind, *, max_bytes: int, lease_seconds: float, max_rows: int = 500
    ) -> SpooledBatch | None:
        """Lease the oldest due rows of one kind, up to max_bytes (always at least one row)."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            due = session.exec(
                select(SpoolEntry.id, func.length(SpoolEntry.payload))
                .where(SpoolEntry.kind == kind)
                .where(
                    or_(
                        col(SpoolEntry.lease_expires_at).is_(None),
                        col(SpoolEntry.lease_expires_at) < now,
                    )
                )
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
            session.execute(
                update(SpoolEntry)
                .where(col(SpoolEntry.id).in_(chosen))
                .values(
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=SpoolEntry.attempts + 1,
                )
            )
            return SpooledBatch(
                kind=kind,
                ids=[row.id for row in rows if row.id is not None],
                payloads=[row.payload for row in rows],
                records=sum(row.records for row in rows),
            )

    def delete(self, ids: list[int]) -> None:
        """The server accepted these rows: forget them."""
        with write_session(self.engine) as session:
            session.exec(delete(SpoolEntry).where(col(SpoolEntry.id).in_(ids)))

    def release(self, ids: list[int], error: str) -> None:
        """Delivery failed: keep the rows, due again at once (the forwarder backs off)."""
        with write_session(self.engine) as session:
            session.execute(
                update(SpoolEntry)
                .where(col(SpoolEntry.id).in_(ids))
                .values(lease_expires_at=None, last_error=error[:1000])
            )

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
