"""Memory changes that no longer applied, waiting to be proposed again against the new text.

The outbox's memory_update executor never forces a diff over a user's hand edit and never calls
a model: when the lines a diff changes were edited meanwhile, it records the change here and the
Reflector proposes it again (a new memory_update draft) against the file as it is now.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import col, select

from ambient.core.clock import Clock
from ambient.core.db import read_session, write_session
from ambient.memory.tables import MemoryReproposal, ReproposalStatus


class ReproposalQueue:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def add(
        self,
        *,
        approval_id: int,
        item_id: int,
        trace_id: str,
        cause: str,
        file: str,
        diff: str,
        reason: str,
        conflict: str,
    ) -> MemoryReproposal:
        """Record a change to propose again; once per approval (a retried executor adds none)."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            existing = session.exec(
                select(MemoryReproposal).where(MemoryReproposal.approval_id == approval_id)
            ).first()
            if existing is not None:
                return existing
            row = MemoryReproposal(
                approval_id=approval_id,
                item_id=item_id,
                trace_id=trace_id,
                cause=cause,
                file=file,
                diff=diff,
                reason=reason,
                conflict=conflict,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return row

    def pending(self, limit: int = 20) -> list[MemoryReproposal]:
        query = (
            select(MemoryReproposal)
            .where(MemoryReproposal.status == ReproposalStatus.PENDING)
            .order_by(col(MemoryReproposal.id))
            .limit(limit)
        )
        with read_session(self.engine) as session:
            return list(session.exec(query))

    def finish(self, reproposal_id: int, new_approval_id: int | None) -> None:
        self._update(reproposal_id, ReproposalStatus.DONE, None, new_approval_id)

    def record_failure(self, reproposal_id: int, error: str, *, give_up: bool) -> None:
        status = ReproposalStatus.FAILED if give_up else ReproposalStatus.PENDING
        self._update(reproposal_id, status, error, None)

    def _update(
        self,
        reproposal_id: int,
        status: ReproposalStatus,
        error: str | None,
        new_approval_id: int | None,
    ) -> None:
        with write_session(self.engine) as session:
            row = session.get(MemoryReproposal, reproposal_id)
            if row is None:
                return
            row.status = status
            row.updated_at = self.clock.now()
            if error is not None:
                row.attempts += 1
                row.last_error = error
            if new_approval_id is not None:
                row.new_approval_id = new_approval_id
            session.add(row)
