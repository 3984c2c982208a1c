"""The item ledger's tables: what came in, its state, and the raw bytes kept for recovery."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Enum, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ambient.core.db import UTCDateTime, enum_values
from ambient.core.items import ItemState, Review
from ambient.core.message import ADDRESS_CHARS, DOMAIN_CHARS, TOPIC_CHARS


class Item(SQLModel, table=True):
    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("source", "key", name="uq_item_source_key"),
        Index("ix_item_state_next_attempt", "state", "next_attempt_at"),
        Index("ix_item_message_id", "message_id"),
        # the few-shot lookups: one sender, thread, domain or topic, newest first
        Index("ix_item_thread_key", "thread_key", "id"),
        Index("ix_item_sender_address", "sender_address", "id"),
        Index("ix_item_sender_domain", "sender_domain", "id"),
        Index("ix_item_topic", "topic", "id"),
        Index("ix_item_review", "review", "id"),  # the inbox, the ignored, their counts
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=200)
    key: str = Field(max_length=1000)
    kind: str = Field(default="email", max_length=50)
    state: ItemState = Field(
        default=ItemState.NEW,
        sa_type=Enum(ItemState, native_enum=False, length=30, values_callable=enum_values),
    )
    message_id: str | None = Field(default=None, max_length=1000)
    thread_key: str | None = Field(default=None, max_length=1000)
    subject: str = Field(default="", max_length=2000)
    sender: str = Field(default="", max_length=1000)
    # the sender and subject normalised (core.message.MatchKeys); NULL where there is none
    sender_address: str | None = Field(default=None, max_length=ADDRESS_CHARS)
    sender_domain: str | None = Field(default=None, max_length=DOMAIN_CHARS)
    topic: str | None = Field(default=None, max_length=TOPIC_CHARS)
    received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    triage_json: str | None = None
    trace_id: str | None = Field(default=None, max_length=64)
    metadata_json: str = "{}"
    # what produced the triage (see core.lineage); NULL on rows from before lineage
    lineage_json: str | None = Field(default=None, sa_type=Text)
    # the human's review of a notify or ignore decision (see core.review); NULL: none asked
    review: Review | None = Field(
        default=None,
        sa_type=Enum(Review, native_enum=False, length=20, values_callable=enum_values),
    )
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    overturn_json: str | None = Field(default=None, sa_type=Text)  # what was overturned, why
    reflected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # memory learned


class ItemContent(SQLModel, table=True):
    """The raw bytes of an item, apart from the row so listing stays light."""

    __tablename__ = "item_content"

    item_id: int = Field(foreign_key="item.id", primary_key=True, ondelete="CASCADE")
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SourceState(SQLModel, table=True):
    """When each source last polled, whether it worked, and its cursor (e.g. UIDVALIDITY)."""

    __tablename__ = "source_state"

    name: str = Field(primary_key=True, max_length=200)
    last_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    polls: int = 0
    cursor_json: str = "{}"
