"""Daemon parts built when there is work for them, not at start-up.

The agent (Pydantic AI, the provider's SDK, its price data: about 30 MB) is what an idle daemon
would hold for nothing: the worker's processor is built at the first item
(:class:`BuiltOnFirstItem`), and the feedback and reflection jobs at the first tick that finds
rows waiting for them (:class:`BuiltOnFirstWork`). Once built, a part is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from ambient.core.ledger import ClaimedItem
from ambient.core.processing import ItemOutcome, ItemProcessor, concurrency_limit


class Job(Protocol):
    async def tick(self) -> int: ...


J = TypeVar("J", bound=Job)


class BuiltOnFirstItem:
    """An :class:`ItemProcessor` that builds the real one when the first item comes."""

    def __init__(self, build: Callable[[], ItemProcessor]) -> None:
        self._build = build
        self._built: ItemProcessor | None = None

    @property
    def built(self) -> bool:
        return self._built is not None

    @property
    def part(self) -> ItemProcessor:
        """The processor, built now if it is not yet."""
        if self._built is None:
            self._built = self._build()
        return self._built

    @property
    def max_concurrency(self) -> int | None:
        """The built processor's own limit (none before: an in-process model is built at
        start-up, so what waits here has no limit of its own)."""
        return concurrency_limit(self._built) if self._built is not None else None

    async def process(self, item: ClaimedItem) -> ItemOutcome:
        return await self.part.process(item)


class BuiltOnFirstWork(Generic[J]):
    """A periodic job whose runner is built at the first tick where `waiting()` (a query,
    run in a thread) finds work; until then a tick does nothing and returns 0."""

    def __init__(self, waiting: Callable[[], bool], build: Callable[[], J]) -> None:
        self._waiting = waiting
        self._build = build
        self._built: J | None = None

    @property
    def built(self) -> bool:
        return self._built is not None

    @property
    def part(self) -> J:
        """The job's runner, built now if it is not yet."""
        if self._built is None:
            self._built = self._build()
        return self._built

    async def tick(self) -> int:
        if self._built is None and not await asyncio.to_thread(self._waiting):
            return 0
        return await self.part.tick()
