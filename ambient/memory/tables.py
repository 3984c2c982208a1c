"""Memory's table: changes that no longer applied, waiting to be proposed again."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, Index, Text
from sqlmodel import Field, SQLModel

from ambient.core.db import UTCDateTime, enum_values


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
