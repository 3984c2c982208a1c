"""Secrets never leave the machine; the spool is bounded and says so when it is full."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel
from sqlalchemy import Engine

from ambient.core.config import Secrets, Settings
from ambient.core.ids import trace_id_for_item
from ambient.tracing.assembly import Tracing
from ambient.tracing.forwarder import SpanForwarder
from ambient.tracing.redaction import REDACTED, Redactor
from ambient.tracing.spool import Spool, SpooledBatch
from ambient.tracing.tables import SpoolKind
from ambient.tracing.tracer import ItemRef
from tests.conftest import FrozenClock
from tests.servers.langfuse_receiver import LangfuseProject
from tests.tracing.conftest import SECRET_PASSWORD

CARD = "4111-1111-1111-1111"
ITEM = ItemRef(trace_id=trace_id_for_item("inbox", "k"), source="inbox", key="k")


async def test_secret_values_and_redaction_patterns_never_reach_langfuse(
    tracing: Tracing, forwarder: SpanForwarder, langfuse_project: LangfuseProject
) -> None:
    tracer = tracing.tracer
    leak = f"password is {SECRET_PASSWORD}, card {CARD}"
    with tracer.item_span(
        ITEM, input={"text": leak, "nested": [{"quoted": f'"{SECRET_PASSWORD}"'}]}
    ):
        with tracer.step(ITEM, "agent run", as_type="agent"):
            agent = Agent(TestModel(), output_type=str)
            await agent.run(leak, capabilities=tracer.agent_capabilities())
    tracer.score_decision(ITEM.trace_id, "feedback", f"never send {CARD}", approval_id=1)

    await forwarder.tick()

    received = langfuse_project.received
    everything = json.dumps(
        [(span.name, span.attributes) for span in received.spans] + received.scores, default=str
    )
    assert received.spans and received.scores
    assert SECRET_PASSWORD not in everything
    assert CARD not in everything
    assert REDACTED in everything
    assert received.scores[0]["comment"] == f"never send {REDACTED}"
    events = json.dumps([event.detail for event in tracing.trace_log.events()])
    assert CARD not in events


def test_redaction_covers_json_escaped_secrets_and_ignores_tiny_values() -> None:
    redactor = Redactor(['pa"ss\\word', "abc"], [r"sk-[a-z0-9]{8}"])
    assert redactor.text('{"p": "pa\\"ss\\\\word"} sk-abcdef12 abc') == (
        '{"p": "[REDACTED]"} [REDACTED] abc'
    )


def test_traces_keep_paths_and_redact_only_secrets(settings: Settings) -> None:
    secrets = Secrets(
        {
            "PWD": str(settings.config_dir),
            "OLDPWD": "/home/someone/projects",
            "LANGFUSE_SECRET_KEY": "lf-secret-abc",
            "LANGFUSE_PUBLIC_KEY": "pk-lf-public",
        }
    )
    redactor = Redactor.from_settings(settings, secrets)
    text = f"add [smtp] to {settings.config_file} (from /home/someone/projects) lf-secret-abc"
    assert redactor.text(text) == (
        f"add [smtp] to {settings.config_file} (from /home/someone/projects) {REDACTED}"
    )
    assert redactor.text("pk-lf-public") == "pk-lf-public"


def test_a_full_spool_drops_new_rows_with_a_warning_and_keeps_the_old_ones(
    engine: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(engine, clock, max_rows=10)
    with caplog.at_level(logging.WARNING, logger="ambient.tracing.spool"):
        accepted = [spool.append(SpoolKind.SPANS, b"x", 3) for _ in range(13)]

    assert accepted == [True] * 10 + [False] * 3
    assert (spool.counts().rows, spool.counts().spans, spool.dropped) == (10, 30, 9)
    (warning,) = [record.getMessage() for record in caplog.records]
    assert "tracing spool full (10 rows, tracing.spool_max_rows=10)" in warning


def test_each_destination_reads_the_spool_in_order_with_its_own_cursor_and_lease(
    spool_engine: Engine, clock: FrozenClock
) -> None:
    spool = Spool(spool_engine, clock, max_rows=100)
    for number in range(5):
        spool.append(SpoolKind.SPANS, bytes([number]) * 400, 1)
    spool.append(SpoolKind.SCORE, b"{}", 1)
    readers = ["langfuse", "otlp"]

    def claim(destination: str, max_bytes: int = 1_000) -> SpooledBatch | None:
        return spool.claim(destination, SpoolKind.SPANS, max_bytes=max_bytes, lease_seconds=60)

    first = claim("langfuse")
    assert first is not None and [bytes(p[:1]) for p in first.payloads] == [b"\x00", b"\x01"]
    assert claim("langfuse") is None  # its cursor is leased until the batch is settled
    everything = claim("otlp", max_bytes=10_000)  # another destination: a cursor of its own
    assert everything is not None and len(everything.ids) == 5
    spool.acknowledge(first, readers)
    assert spool.counts().spans == 5  # the OTLP endpoint does not have them yet

    second = claim("langfuse")
    assert second is not None and second.ids == everything.ids[2:4]
    spool.release(second, "HTTP 500")  # failed: the cursor stays where it was
    again = claim("langfuse")
    assert again is not None and again.ids == second.ids
    spool.acknowledge(everything, readers)
    assert (spool.counts().spans, spool.pending("langfuse", SpoolKind.SPANS)) == (3, 3)
    assert spool.pending("otlp", SpoolKind.SPANS) == 0

    clock.advance(seconds=61)  # a forwarder that died holding the lease: the rows come back
    expired = claim("langfuse", max_bytes=10_000)
    assert expired is not None and expired.ids == everything.ids[2:]
    spool.acknowledge(expired, readers)
    assert spool.counts().spans == 0
    assert spool.counts().scores == 1  # Langfuse has not read its scores yet


def test_a_row_spooled_after_the_spool_ran_empty_is_not_skipped(
    engine: Engine, clock: FrozenClock
) -> None:
    spool = Spool(engine, clock, max_rows=100)
    for payload in (b"a", b"b"):
        spool.append(SpoolKind.SPANS, payload, 1)
        batch = spool.claim("otlp", SpoolKind.SPANS, max_bytes=1_000, lease_seconds=60)
        assert batch is not None and batch.payloads == [payload]
        spool.acknowledge(batch, ["otlp"])
        assert spool.counts().rows == 0  # ids never come back: the next row is after the cursor
