"""The worker's contract: what the daemon's worker hands an item to, and what comes back.

The processor (the agent, in production) is reached through one narrow interface,
:class:`ItemProcessor`, so the worker neither knows nor cares which model runs, and the agent
implements it without importing the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ambient.core.items import ItemState
from ambient.core.ledger import ClaimedItem
from ambient.core.lineage import Lineage


@dataclass(frozen=True)
class ItemOutcome:
    """What processing decided: done (nothing to approve) or awaiting_approval, and what
    produced the triage (None: not known, e.g. drafts queued by an earlier attempt)."""

    state: ItemState
    triage: dict[str, Any] = field(default_factory=dict)
    lineage: Lineage | None = None


class PermanentItemError(Exception):
    """Processing can never succeed for this item (retrying is pointless): quarantine it."""


class TransientItemError(Exception):
    """An expected failure with a known cause (a model error, a timeout): retried with backoff
    and logged as one line, without a traceback."""


class ItemProcessor(Protocol):
    async def process(self, item: ClaimedItem) -> ItemOutcome:
        """Triage the item and queue its drafted actions; raise to fail the attempt."""
        ...


def concurrency_limit(processor: ItemProcessor) -> int | None:
    """A processor's own limit (1 for an in-process model: runs take turns on it), if any."""
    limit = getattr(processor, "max_concurrency", None)
    return limit if isinstance(limit, int) and limit > 0 else None


async def warm_up(processor: ItemProcessor) -> None:
    """Let a processor load what it needs (an in-process model) before the first item."""
    prepare = getattr(processor, "warm_up", None)
    if prepare is not None:
        await prepare()


def describe_error(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
