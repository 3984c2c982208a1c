"""Tracing's tables: the durable span/score spool, each destination's cursor into it, and the
local trace log of every step."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Enum, Index, LargeBinary
from sqlmodel import Field, SQLModel

from ambient.core.db import UTCDateTime, enum_values


class SpoolKind(StrEnum):
    SPANS = "spans"  # an OTLP ExportTraceServiceRequest (protobuf, uncompressed)
    SCORE = "score"  # one score, the JSON body the Langfuse SDK would send


def _kind_type() -> Enum:
    return Enum(SpoolKind, native_enum=False, length=20, values_callable=enum_values)


class SpoolEntry(SQLModel, table=True):
    """Something waiting to reach the destinations; deleted once every one has accepted it.

    Ids only grow (AUTOINCREMENT on SQLite, a sequence on PostgreSQL): a cursor that read up
    to an id never meets a newer row below it.
    """

    __tablename__ = "trace_spool"
    __table_args__ = (Index("ix_trace_spool_kind_id", "kind", "id"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    kind: SpoolKind = Field(sa_type=_kind_type())
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    records: int = 1  # spans (or scores) in the payload
    created_at: datetime = Field(sa_type=UTCDateTime)


class SpoolCursor(SQLModel, table=True):
    """How far one destination (Langfuse, an OTLP endpoint) has taken one kind of the spool."""

    __tablename__ = "trace_spool_cursor"

    destination: str = Field(primary_key=True, max_length=50)
    kind: SpoolKind = Field(primary_key=True, sa_type=_kind_type())
    delivered_id: int = 0  # every row of this kind up to this id was accepted (or refused)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # sending now
    lease_owner: str | None = Field(default=None, max_length=32)  # the claim's token
    failures: int = 0  # failed attempts since the last delivery
    last_error: str | None = None


class TraceEvent(SQLModel, table=True):
    """The local trace log: one row per step and decision, kept whether tracing is on or off."""

    __tablename__ = "trace_event"
    __table_args__ = (Index("ix_trace_event_trace_id", "trace_id"),)

    id: int | None = Field(default=None, primary_key=True)
    trace_id: str = Field(max_length=64)
    item_id: int | None = None
    name: str = Field(max_length=200)
    kind: str = Field(default="step", max_length=30)  # step | item | score
    status: str = Field(default="ok", max_length=20)  # ok | error
    at: datetime = Field(sa_type=UTCDateTime)
    duration_ms: int | None = None
    detail_json: str = "{}"
