"""The daemon's table: a heartbeat row per running process."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from ambient.core.db import UTCDateTime


class Heartbeat(SQLModel, table=True):
    """One row per running daemon process; the TUI and `ambient status` read it."""

    __tablename__ = "heartbeat"

    process: str = Field(primary_key=True, max_length=200)  # host:pid
    started_at: datetime = Field(sa_type=UTCDateTime)
    beat_at: datetime = Field(sa_type=UTCDateTime)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    model: str = ""
    version: str = ""
    status: str = ""
