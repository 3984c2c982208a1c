"""The worker's item processor, traced: each item is processed inside its trace's root.

Wraps any :class:`ambient.core.processing.ItemProcessor` (the agent, in production), so the steps
and Pydantic AI spans the processor records nest under the item's root observation, whose
input is the item and whose output is the state processing left it in.
"""

from __future__ import annotations

from ambient.core.ledger import ClaimedItem
from ambient.core.processing import ItemOutcome, ItemProcessor, concurrency_limit, warm_up
from ambient.tracing.summary import item_summary
from ambient.tracing.tracer import ItemTracer


class TracedProcessor:
    def __init__(self, processor: ItemProcessor, tracer: ItemTracer) -> None:
        self.processor = processor
        self.tracer = tracer

    @property
    def max_concurrency(self) -> int | None:
        return concurrency_limit(self.processor)

    async def warm_up(self) -> None:
        await warm_up(self.processor)

    async def process(self, item: ClaimedItem) -> ItemOutcome:
        """The item inside its root observation. The summary (the email parsed once more) is
        made only when spans are on: the root's input goes nowhere else. What the steps write
        is written once, off the event loop, when the item is processed (``writes_at_end``)."""
        summary = None
        if self.tracer.enabled:
            summary = item_summary(
                source=item.source, key=item.key, kind=item.kind, raw=item.raw, item_id=item.id
            )
        async with self.tracer.writes_at_end():
            with self.tracer.item_span(item, input=summary) as root:
                outcome = await self.processor.process(item)
                root.update(output={"state": outcome.state.value, "triage": outcome.triage})
        return outcome
