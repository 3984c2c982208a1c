"""Langfuse down, hanging, failing or refusing the keys: nothing is lost, nothing arrives twice."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import Engine

from ambient.core.config import Settings
from ambient.tracing.assembly import Tracing
from ambient.tracing.forwarder import SpanForwarder
from ambient.tracing.tracer import ItemRef
from tests.conftest import FrozenClock
from tests.servers.langfuse_receiver import LangfuseProject
from tests.tracing.conftest import claim_item


def record_item(tracing: Tracing, item: ItemRef, approval_id: int) -> None:
    tracer = tracing.tracer
    tracer.record_step(item, "ingest")
    with tracer.item_span(item, input={"key": item.key}) as root:
        tracer.record_step(item, "action queued", output={"approval_id": approval_id})
        root.update(output={"state": "awaiting_approval"})
    tracer.record_step(item, "human decision", output={"decision": "approved"})
    tracer.score_decision(item.trace_id, "approved", approval_id=approval_id)


@pytest.mark.parametrize("mode", ["refuse", "hang", "error", "unauthorized"])
async def test_after_an_outage_every_span_and_score_arrives_exactly_once(
    mode: str,
    tracing: Tracing,
    forwarder: SpanForwarder,
    langfuse_project: LangfuseProject,
    tracing_settings: Settings,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    first = ItemRef.of(claim_item(engine, clock, tracing_settings, key="cur/1"))
    record_item(tracing, first, approval_id=1)
    assert await forwarder.tick() > 0  # Langfuse is up: the first item goes through
    before = len(langfuse_project.received.spans)

    langfuse_project.set_mode(mode)
    second = ItemRef.of(claim_item(engine, clock, tracing_settings, key="cur/2"))
    started = time.monotonic()
    record_item(tracing, second, approval_id=2)  # the daemon's own work never waits on Langfuse
    assert time.monotonic() - started < tracing_settings.tracing.forward_timeout_seconds
    started = time.monotonic()
    assert await forwarder.tick() == 0
    assert time.monotonic() - started < tracing_settings.tracing.forward_timeout_seconds * 4
    assert await forwarder.tick() == 0  # backing off: not even an attempt
    spooled = tracing.spool.counts()
    assert (spooled.spans, spooled.scores) == (4, 1)

    langfuse_project.set_mode("ok")
    clock.advance(seconds=tracing_settings.tracing.forward_backoff_seconds)
    assert await forwarder.tick() == 5

    received = langfuse_project.received
    outage_spans = received.spans[before:]
    assert {span.trace_id for span in outage_spans} == {second.trace_id}
    assert sorted(span.name for span in outage_spans) == [
        "action queued",
        "human decision",
        "ingest",
        "item",
    ]
    keys = Counter((span.span_id, span.end_ns) for span in received.spans)
    assert max(keys.values()) == 1
    assert [score["traceId"] for score in received.scores] == [first.trace_id, second.trace_id]
    assert tracing.spool.counts().rows == 0


async def test_each_failed_attempt_waits_longer_up_to_the_cap(
    tracing: Tracing,
    forwarder: SpanForwarder,
    langfuse_project: LangfuseProject,
    tracing_settings: Settings,
    clock: FrozenClock,
) -> None:
    tracing_settings.tracing.forward_backoff_max_seconds = 5.0
    tracing.tracer.score_decision("0" * 32, "rejected", approval_id=1)
    langfuse_project.set_mode("error")
    delays = []
    for _ in range(4):
        assert forwarder.retry_at is None or forwarder.retry_at <= clock.now()
        assert await forwarder.tick() == 0
        assert forwarder.retry_at is not None
        delays.append((forwarder.retry_at - clock.now()).total_seconds())
        clock.current = forwarder.retry_at
    assert delays == [2.0, 4.0, 5.0, 5.0]
    langfuse_project.set_mode("ok")
    assert await forwarder.tick() == 1
