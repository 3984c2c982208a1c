"""The alerts' durable state: what waits (in the order it was noticed), where each channel is,
and the log of every alert sent.

A restart reads them back, so nothing is alerted twice and nothing that came in meanwhile is
missed: each waiting thing gets a sequence number when the dispatcher first sees it, and each
channel keeps the highest number it has delivered (its mark).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from ambient.core.db import UTCDateTime


class AlertWaiting(SQLModel, table=True):
    """A thing waiting for the human, as the dispatcher noticed it; deleted once it no longer
    waits (decided, read)."""

    __tablename__ = "alert_waiting"

    id: int | None = Field(default=None, primary_key=True)  # the order things were noticed in
    thing: str = Field(max_length=100, unique=True)  # "approval:12", "item:40"
    kind: str = Field(max_length=20)  # draft, question, notify
    noticed_at: datetime = Field(sa_type=UTCDateTime)


class AlertChannelState(SQLModel, table=True):
    """Where one channel is: the last waiting thing it delivered, its last try (the rate limit),
    and for the digest the last scheduled time it covered."""

    __tablename__ = "alert_channel"

    channel: str = Field(primary_key=True, max_length=50)
    mark: int = 0  # AlertWaiting.id of the newest thing delivered
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    slot_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # digest: covered up to


class AlertLog(SQLModel, table=True):
    """One alert sent (or tried) through one channel."""

    __tablename__ = "alert_log"
    __table_args__ = (Index("ix_alert_log_sent_at", "sent_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=50)
    kind: str = Field(max_length=20)  # alert, summary, digest, test
    sent_at: datetime = Field(sa_type=UTCDateTime)
    count: int = 0
    things_json: str = Field(default="[]", sa_type=Text)  # ["approval:12", "item:40", ...]
    title: str = Field(default="", max_length=500)
    ok: bool = True
    error: str | None = Field(default=None, sa_type=Text)
