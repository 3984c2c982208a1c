"""One trace per item, every step under its root, as the real SDK sends it to Langfuse."""

from __future__ import annotations

import base64
from collections import Counter

from langfuse import Langfuse
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel
from sqlalchemy import Engine

from ambient import __version__
from ambient.core.config import Secrets, Settings
from ambient.core.ids import trace_id_for_item
from ambient.tracing.assembly import Tracing, open_tracing
from ambient.tracing.context import root_span_id_for_trace
from ambient.tracing.forwarder import SpanForwarder
from ambient.tracing.summary import item_summary
from ambient.tracing.tracer import ItemRef
from tests.conftest import FrozenClock
from tests.servers.langfuse_receiver import LangfuseProject, ReceivedSpan
from tests.tracing.conftest import claim_item

STEPS = ["ingest", "agent run", "action queued", "human decision", "execution", "memory change"]


def triage_agent() -> Agent[None, str]:
    agent = Agent(TestModel(), output_type=str, instructions="Triage the email.")

    @agent.tool_plain
    def lookup_contact(address: str) -> str:
        """Look a sender up in the contacts file."""
        return f"{address}: a colleague"

    return agent


async def trace_one_item(tracing: Tracing, item: ItemRef, raw: bytes) -> None:
    """Every step an item goes through, as the daemon, the TUI and the outbox record them."""
    tracer = tracing.tracer
    tracer.record_step(item, "ingest", input={"source": item.source, "key": item.key})
    with tracer.item_span(item, input=item_summary(**_identity(item), raw=raw)) as root:
        with tracer.step(item, "agent run", as_type="agent") as run:
            result = await triage_agent().run(
                "Triage this.", capabilities=tracer.agent_capabilities()
            )
            run.update(output=result.output)
        tracer.record_step(
            item, "action queued", input={"tool": "reply_email"}, output={"approval_id": 7}
        )
        root.update(output={"state": "awaiting_approval"})
    assert item.item_id is not None  # the TUI knows the item by its id
    tracer.record_decision(item.item_id, approval_id=7, decision="edit", comment="shorter, please")
    tracer.record_step(item, "execution", output={"sent": True})
    tracer.record_step(item, "memory change", output={"file": "writing-style.md"})
    tracer.finish_item(item, "done")


def _identity(item: ItemRef) -> dict[str, str]:
    return {"source": item.source, "key": item.key, "kind": item.kind}


def by_name(spans: list[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    named: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        named.setdefault(span.name, []).append(span)
    return named


async def test_an_item_becomes_one_trace_with_every_step_under_its_root(
    tracing: Tracing,
    forwarder: SpanForwarder,
    langfuse_project: LangfuseProject,
    tracing_settings: Settings,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    claimed = claim_item(engine, clock, tracing_settings)
    item = ItemRef.of(claimed)
    await trace_one_item(tracing, item, claimed.raw)

    delivered = await forwarder.tick()

    received = langfuse_project.received
    spans = received.spans
    assert delivered == len(spans) + len(received.scores)
    assert {span.trace_id for span in spans} == {item.trace_id}
    named = by_name(spans)
    root_id = root_span_id_for_trace(item.trace_id)
    assert {span.span_id for span in named["item"]} == {root_id}
    assert all(span.parent_span_id is None for span in named["item"])
    for step in STEPS:
        (span,) = named[step]
        assert span.parent_span_id == root_id, step
        assert span.scope == "langfuse-sdk"
    # Pydantic AI's own spans: the agent run, its model calls (with tokens) and its tool call
    (invoke,) = named["invoke_agent agent"]
    assert invoke.parent_span_id == named["agent run"][0].span_id
    chats = [span for span in spans if span.name.startswith("chat ")]
    assert chats and all(span.parent_span_id == invoke.span_id for span in chats)
    assert all(span.attributes["gen_ai.usage.input_tokens"] > 0 for span in chats)
    (tool,) = named["execute_tool lookup_contact"]
    assert tool.parent_span_id == invoke.span_id
    assert "gen_ai.tool.call.arguments" in tool.attributes
    assert "gen_ai.tool.call.result" in tool.attributes
    # ids and tags on every span
    for span in spans:
        assert span.attributes["user.id"] == "inbox", span.name
        assert span.attributes["session.id"] == claimed.thread_key, span.name
        assert span.attributes["langfuse.trace.tags"] == ("inbox", "email"), span.name
        assert span.json_attribute("langfuse.trace.metadata.ambient_version") == __version__
        assert span.json_attribute("langfuse.trace.metadata.model") == tracing_settings.model_name
        assert span.attributes["langfuse.trace.name"] == "ambient item"
    # the root: the item as input, its final state as output (the last emission wins)
    roots = sorted(named["item"], key=lambda span: span.end_ns)
    assert roots[0].json_attribute("langfuse.observation.input")["subject"] == "Quarterly numbers"
    assert roots[0].json_attribute("langfuse.observation.output") == {"state": "awaiting_approval"}
    assert roots[-1].json_attribute("langfuse.observation.output") == {"state": "done"}
    assert [span.attributes.get("langfuse.internal.is_app_root") for span in spans].count(True) == 2
    # the decision, as a categorical score on the item's trace
    assert named["human decision"][0].json_attribute("langfuse.observation.output") == {
        "decision": "edited",
        "comment": "shorter, please",
    }
    (score,) = received.scores
    assert score["traceId"] == item.trace_id
    assert (score["name"], score["value"], score["dataType"]) == (
        "human_decision",
        "edited",
        "CATEGORICAL",
    )
    assert score["comment"] == "shorter, please"
    # exactly once, and nothing left behind
    assert max(Counter((span.span_id, span.end_ns) for span in spans).values()) == 1
    assert tracing.spool.counts().rows == 0


async def test_spans_arrive_as_gzip_protobuf_with_the_projects_basic_auth(
    tracing: Tracing, forwarder: SpanForwarder, langfuse_project: LangfuseProject
) -> None:
    item = ItemRef(trace_id=trace_id_for_item("inbox", "k"), source="inbox", key="k")
    tracing.tracer.record_step(item, "ingest")

    await forwarder.tick()

    (headers,) = langfuse_project.received.span_requests
    credentials = f"{langfuse_project.public_key}:{langfuse_project.secret_key}"
    assert headers["authorization"] == "Basic " + base64.b64encode(credentials.encode()).decode()
    assert headers["content-encoding"] == "gzip"
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["x-langfuse-public-key"] == langfuse_project.public_key
    (span,) = langfuse_project.received.spans
    assert span.resource["service.name"] == "ambient"


async def test_wrong_keys_are_refused_and_nothing_is_recorded_under_them(
    tracing: Tracing, forwarder: SpanForwarder, langfuse_project: LangfuseProject
) -> None:
    langfuse_project.server.credentials[langfuse_project.public_key] = "another-secret"
    item = ItemRef(trace_id=trace_id_for_item("inbox", "k"), source="inbox", key="k")
    tracing.tracer.record_step(item, "ingest")

    assert await forwarder.tick() == 0

    assert langfuse_project.received.spans == []
    assert tracing.spool.counts().spans == 1
    assert ("POST", "/api/public/otel/v1/traces", 401) in langfuse_project.server.requests


def test_trace_ids_match_the_sdks_own_seeded_derivation() -> None:
    assert trace_id_for_item("inbox", "cur/1") == Langfuse.create_trace_id(
        seed="ambient-item:inbox/cur/1"
    )


async def test_a_second_tracing_in_one_process_shares_the_first_ones_pipeline(
    tracing: Tracing,
    forwarder: SpanForwarder,
    langfuse_project: LangfuseProject,
    tracing_settings: Settings,
    langfuse_secrets: Secrets,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    item = ItemRef(trace_id=trace_id_for_item("inbox", "k"), source="inbox", key="k")
    second = open_tracing(tracing_settings, langfuse_secrets, engine, clock)
    assert not second.owns_client and second.provider is tracing.provider
    second.tracer.record_step(item, "ingest")
    second.close()  # must not shut the first one's pipeline down
    tracing.tracer.record_step(item, "execution")

    await forwarder.tick()

    assert sorted(span.name for span in langfuse_project.received.spans) == [
        "execution",
        "ingest",
    ]
