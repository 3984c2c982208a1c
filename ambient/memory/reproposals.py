"""Memory changes that no longer applied, waiting to be proposed again against the new text.

The outbox's memory_update executor never forces a diff over a user's hand edit and never calls
a model: when the lines a diff changes were edited meanwhile, it records the change here and the
Reflector proposes it again (a new memory_update draft) against the file as it is now.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Engine, Enum, Index, Text
from sqlmodel import Field, SQLModel, col, select

from ambient.core.clock import Clock
from ambient.core.db import UTCDateTime, read_session, write_session
from ambient.core.items import enum_values


class ReproposalStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class MemoryReproposal(SQLModel, table=True):
    __tablename__ = "memory_reproposal"
    __table_args__ = (Index("ix_memory_reproposal_status", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    approval_id: int = Field(unique=True)  # the memory_update approval that no longer applied
    item_id: int
    trace_id: str = Field(default="", max_length=64)
    cause: str = Field(default="", max_length=200)  # the decision the change was learned from
    file: str = Field(max_length=500)
    diff: str = Field(sa_type=Text)
    reason: str = Field(default="", sa_type=Text)
    conflict: str = Field(default="", sa_type=Text)  # why it no longer applied
    status: ReproposalStatus = Field(
        default=ReproposalStatus.PENDING,
        sa_type=Enum(ReproposalStatus, native_enum=False, length=20, values_callable=enum_values),
    )
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    new_approval_id: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


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
