"""The local trace log: every traced step and decision, whether Langfuse is on or off.

`ambient log` (and the TUI's history) read it; it never leaves the machine, but it is redacted
like a trace all the same, and details are kept short.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
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
        try:
            with write_session(self.engine) as session:
                session.add(row)
        except SQLAlchemyError as error:
            log.error("trace=%s trace log event %r not recorded: %s", trace_id, name, error)

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
