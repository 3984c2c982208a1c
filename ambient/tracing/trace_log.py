"""The local trace log: every traced step and decision, whether Langfuse is on or off.

`ambient log` (and the TUI's history) read it; it never leaves the machine, but it is redacted
like a trace all the same, and details are kept short.

An event is written when it is recorded, in its own short transaction, except inside
:meth:`TraceLog.collecting`: there the events are kept and written together at its end (the
worker collects an item's events and writes them in one transaction off the event loop, before
the item completes, instead of one write under the database's write lock per step on the loop).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from ambient.core.clock import Clock
from ambient.core.db import read_session, write_session
from ambient.tracing.redaction import Redactor
from ambient.tracing.tables import TraceEvent

log = logging.getLogger(__name__)

DETAIL_MAX_CHARS = 4_000


@dataclass(frozen=True)
class AuditEvent:
    trace_id: str
    item_id: int | None
    name: str
    kind: str
    status: str
    at: datetime
    duration_ms: int | None
    detail: dict[str, Any]


def _short(value: Any) -> Any:
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= DETAIL_MAX_CHARS:
        return value
    return text[:DETAIL_MAX_CHARS] + "…"


@dataclass
class CollectedEvents:
    """The events recorded inside :meth:`TraceLog.collecting`, to write at its end."""

    rows: list[TraceEvent] = field(default_factory=list)
    closed: bool = False  # written: an event recorded later is written on its own
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, row: TraceEvent) -> bool:
        """Keep `row` to write later; False once written (the caller writes it itself)."""
        with self._lock:
            if not self.closed:
                self.rows.append(row)
            return not self.closed

    def write(self, trace_log: TraceLog) -> None:
        """Write what was collected (once: the first call takes them, from any thread)."""
        with self._lock:
            self.closed = True
            rows, self.rows = self.rows, []
        trace_log.write(rows)


_collected: ContextVar[CollectedEvents | None] = ContextVar("trace_log_collected", default=None)


class TraceLog:
    def __init__(self, engine: Engine, clock: Clock, redactor: Redactor) -> None:
        self.engine = engine
        self.clock = clock
        self.redactor = redactor

    def record(
        self,
        *,
        trace_id: str,
        name: str,
        item_id: int | None = None,
        kind: str = "step",
        status: str = "ok",
        duration_ms: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one event; a failure is logged, never raised into the caller's work."""
        clean = {key: _short(value) for key, value in self.redactor.value(detail or {}).items()}
        row = TraceEvent(
            trace_id=trace_id,
            item_id=item_id,
            name=name[:200],
            kind=kind,
            status=status,
            at=self.clock.now(),
            duration_ms=duration_ms,
            detail_json=json.dumps(clean, default=str, ensure_ascii=False),
        )
        collected = _collected.get()
        if collected is None or not collected.add(row):
            self.write([row])

    def write(self, rows: list[TraceEvent]) -> None:
        """Append recorded events in one transaction; a failure is logged, never raised."""
        if not rows:
            return
        try:
            with write_session(self.engine) as session:
                session.add_all(rows)
        except SQLAlchemyError as error:
            traces = ",".join(sorted({row.trace_id for row in rows}))
            names = ", ".join(repr(row.name) for row in rows)
            log.error("trace=%s trace log event %s not recorded: %s", traces, names, error)

    @contextmanager
    def collecting(self) -> Iterator[CollectedEvents]:
        """Keep the events recorded inside (in this context: this task, the tasks and threads
        it starts) for the caller to write together with :meth:`CollectedEvents.write`;
        whatever is left unwritten when it ends is written then."""
        collected = CollectedEvents()
        token = _collected.set(collected)
        try:
            yield collected
        finally:
            _collected.reset(token)
            if not collected.closed:
                collected.write(self)

    def events(self, *, trace_id: str | None = None, limit: int = 200) -> list[AuditEvent]:
        """The newest events first (optionally of one trace)."""
        query = select(TraceEvent).order_by(col(TraceEvent.id).desc()).limit(limit)
        if trace_id is not None:
            query = query.where(TraceEvent.trace_id == trace_id)
        with read_session(self.engine) as session:
            rows = session.exec(query).all()
        return [
            AuditEvent(
                trace_id=row.trace_id,
                item_id=row.item_id,
                name=row.name,
                kind=row.kind,
                status=row.status,
                at=row.at,
                duration_ms=row.duration_ms,
                detail=json.loads(row.detail_json),
            )
            for row in rows
        ]
