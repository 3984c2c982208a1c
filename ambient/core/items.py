"""What an item is before and beside its row: what a source hands in, and its states.

The ledger's tables are in :mod:`ambient.core.tables`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ItemState(StrEnum):
    NEW = "new"
    PROCESSING = "processing"
    AWAITING_APPROVAL = "awaiting_approval"
    DONE = "done"
    FAILED = "failed"
    QUARANTINED = "quarantined"


FINAL_STATES = frozenset({ItemState.DONE, ItemState.QUARANTINED})


class Review(StrEnum):
    """Where the human is with an item the agent let pass (see :mod:`ambient.core.review`):
    a "notify" item is unread until read; an "ignore" decision is unreviewed until the human
    confirms it or overturns it (the item then runs again, as "act")."""

    UNREAD = "unread"
    READ = "read"
    UNREVIEWED = "unreviewed"
    CONFIRMED = "confirmed"
    OVERTURNED = "overturned"


@dataclass(frozen=True)
class InboundItem:
    """What a source hands the ledger: a stable key and the raw bytes, nothing decided."""

    source: str
    key: str
    raw: bytes
    kind: str = "email"
    message_id: str | None = None
    received_at: datetime | None = None
    parse_error: str | None = None  # set when the source already knows the bytes are unusable
    metadata: dict[str, Any] = field(default_factory=dict)
