"""The worker's processor runs each item inside its trace's root observation."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from ambient.core.config import Settings
from ambient.core.items import ItemState
from ambient.core.ledger import ClaimedItem
from ambient.core.processing import ItemOutcome
from ambient.daemon.traced_processor import TracedProcessor
from ambient.tracing.assembly import Tracing
from ambient.tracing.context import root_span_id_for_trace
from ambient.tracing.forwarder import SpanForwarder
from tests.conftest import FrozenClock
from tests.servers.langfuse_receiver import LangfuseProject
from tests.tracing.conftest import claim_item


class DraftingProcessor:
    """Stands in for the agent: one step, then the item waits for approval (or it fails)."""

    def __init__(self, tracing: Tracing, fail: bool = False) -> None:
        self.tracing = tracing
        self.fail = fail

    async def process(self, item: ClaimedItem) -> ItemOutcome:
        with self.tracing.tracer.step(item, "agent run", as_type="agent"):
            if self.fail:
                raise RuntimeError("model unavailable")
        return ItemOutcome(ItemState.AWAITING_APPROVAL, {"decision": "act"})


async def test_each_item_is_processed_inside_its_root_observation(
    tracing: Tracing,
    forwarder: SpanForwarder,
    langfuse_project: LangfuseProject,
    tracing_settings: Settings,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    item = claim_item(engine, clock, tracing_settings)

    outcome = await TracedProcessor(DraftingProcessor(tracing), tracing.tracer).process(item)
    await forwarder.tick()

    assert outcome.state is ItemState.AWAITING_APPROVAL
    spans = {span.name: span for span in langfuse_project.received.spans}
    root = spans["item"]
    assert root.span_id == root_span_id_for_trace(item.trace_id)
    assert spans["agent run"].parent_span_id == root.span_id
    assert root.json_attribute("langfuse.observation.input")["subject"] == "Quarterly numbers"
    assert root.json_attribute("langfuse.observation.output") == {
        "state": "awaiting_approval",
        "triage": {"decision": "act"},
    }


async def test_a_failing_item_is_an_error_in_its_trace_and_the_worker_sees_the_error(
    tracing: Tracing,
    forwarder: SpanForwarder,
    langfuse_project: LangfuseProject,
    tracing_settings: Settings,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    item = claim_item(engine, clock, tracing_settings)
    processor = TracedProcessor(DraftingProcessor(tracing, fail=True), tracing.tracer)

    with pytest.raises(RuntimeError, match="model unavailable"):
        await processor.process(item)
    await forwarder.tick()

    spans = {span.name: span for span in langfuse_project.received.spans}
    for name in ("item", "agent run"):
        assert spans[name].attributes["langfuse.observation.level"] == "ERROR"
        assert "model unavailable" in spans[name].attributes["langfuse.observation.status_message"]
    events = tracing.trace_log.events(trace_id=item.trace_id)
    assert [(event.name, event.status) for event in events] == [
        ("item", "error"),
        ("agent run", "error"),
    ]


async def test_the_traced_processor_keeps_the_wrapped_ones_limit_and_warm_up(
    tracing: Tracing,
) -> None:
    class Local:
        max_concurrency = 1
        warmed = False

        async def warm_up(self) -> None:
            Local.warmed = True

        async def process(self, item: ClaimedItem) -> ItemOutcome:
            raise AssertionError("not called")

    traced = TracedProcessor(Local(), tracing.tracer)
    assert traced.max_concurrency == 1
    await traced.warm_up()
    assert Local.warmed


async def test_an_items_trace_log_events_are_written_together_once_it_is_processed(
    tracing: Tracing, tracing_settings: Settings, engine: Engine, clock: FrozenClock
) -> None:
    item = claim_item(engine, clock, tracing_settings)
    written_while_running: list[str] = []

    class Looking:
        async def process(self, item: ClaimedItem) -> ItemOutcome:
            with tracing.tracer.step(item, "agent run", as_type="agent"):
                pass
            events = tracing.trace_log.events(trace_id=item.trace_id)
            written_while_running.extend(event.name for event in events)
            return ItemOutcome(ItemState.DONE, {"decision": "notify"})

    await TracedProcessor(Looking(), tracing.tracer).process(item)

    assert written_while_running == []  # no write on the event loop per step
    events = tracing.trace_log.events(trace_id=item.trace_id)
    assert [(event.name, event.kind) for event in events] == [
        ("item", "item"),
        ("agent run", "step"),
    ]


def test_an_event_recorded_after_its_collection_was_written_is_written_at_once(
    tracing: Tracing,
) -> None:
    trace_log = tracing.trace_log
    with trace_log.collecting() as collected:
        trace_log.record(trace_id="trace-1", name="first")
        assert trace_log.events(trace_id="trace-1") == []
        collected.write(trace_log)
        trace_log.record(trace_id="trace-1", name="late")

        assert [event.name for event in trace_log.events(trace_id="trace-1")] == ["late", "first"]
