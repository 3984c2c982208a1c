"""Any OpenTelemetry backend, proven on a real MLflow server: items sent through the daemon
arrive as one trace each, with the agent's own spans and the human decision on the trace; and
after MLflow was down for a while every trace arrives, once, while Langfuse was never held back."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ambient.approvals.events import TracedApprovals
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import ApprovalStatus
from ambient.core.config import Secrets, Settings
from ambient.runtime import Runtime
from ambient.sources.maildir import deliver
from ambient.tracing.context import root_span_id_for_trace
from ambient.tracing.tables import SpoolKind
from tests.conftest import FrozenClock
from tests.daemon.mail import email_bytes
from tests.servers.langfuse_receiver import LangfuseProject
from tests.servers.mlflow_tracking import MlflowExperiment
from tests.servers.smtp import SmtpServer

DECISION = "ambient.decision"


def mlflow_settings(settings: Settings) -> Settings:
    """The tracing test settings, with time for a real server's first requests."""
    settings.tracing.forward_timeout_seconds = 30.0
    return settings


def tui_queue(runtime: Runtime, settings: Settings, clock: FrozenClock) -> ApprovalQueue:
    """The queue as the TUI builds it in its own process: decisions go onto the items' traces."""
    return ApprovalQueue(
        runtime.engine,
        clock,
        settings,
        PolicyGate.from_settings(settings),
        events=TracedApprovals(runtime.tracer),
    )


def by_trace_id(traces: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """MLflow's traces keyed by ambient's trace id (MLflow names an OTLP trace "tr-<id>")."""
    return {trace["trace_id"].removeprefix("tr-"): trace for trace in traces}


async def test_each_item_is_one_mlflow_trace_with_the_agents_spans_and_the_decision(
    tracing_settings: Settings,
    mlflow_experiment: MlflowExperiment,
    clock: FrozenClock,
    smtp_server: SmtpServer,
) -> None:
    settings = mlflow_settings(tracing_settings)
    settings.smtp = smtp_server.settings(from_address="me@example.com")
    runtime = Runtime(settings, Secrets(mlflow_experiment.environment()), clock)
    assert runtime.tracing.connection.enabled is False  # no Langfuse keys: MLflow only
    for subject in ("Lunch?", "Notes?"):
        deliver(settings.maildir_path, email_bytes(subject, message_id=f"<{subject}@x>"))
    try:
        daemon = runtime.daemon  # the real agent (the test model) with tracing on
        await daemon.run_once()
        queue = tui_queue(runtime, settings, clock)
        first, second = queue.list([ApprovalStatus.PENDING])  # the test model drafts a reply each
        assert first.id is not None and second.id is not None
        queue.approve(
            first.id, shown_hash=first.shown_hash, acknowledge_warnings=True, actor="alice"
        )
        queue.reject(second.id, shown_hash=second.shown_hash, reason="not now", actor="bob")
        await daemon.run_once()  # the outbox sends the approved reply
        runtime.tracer.flush()
        await daemon.run_once()  # forwards the decisions and the execution
        items = {item.id: item for item in runtime.ledger.items()}
    finally:
        await runtime.aclose()

    traces = by_trace_id(mlflow_experiment.traces())
    assert set(traces) == {item.trace_id for item in items.values()}  # one trace per item
    decided = {
        first.item_id: {"value": "approved", "decided_by": "alice"},
        second.item_id: {"value": "rejected", "decided_by": "bob", "comment": "not now"},
    }
    for item_id, decision in decided.items():
        trace_id = str(items[item_id].trace_id)
        spans = traces[trace_id]["spans"]
        (root,) = [span for span in spans if span["parent_id"] is None]
        assert (root["name"], root["span_id"]) == ("item", root_span_id_for_trace(trace_id))
        assert root["inputs"]["subject"] in ("Lunch?", "Notes?")  # the item, kept to the end
        assert root["outputs"] == {"state": "done"}
        ids = {span["span_id"] for span in spans}
        assert all(span["parent_id"] in ids for span in spans if span is not root)
        # the agent's own spans (Pydantic AI's instrumentation), typed by MLflow
        assert {"AGENT", "CHAT_MODEL"} <= {span["span_type"] for span in spans}
        (step,) = [span for span in spans if span["name"] == "human decision"]
        assert step["outputs"]["decision"] == decision["value"]
        attributes = {f"{DECISION}.{key}": value for key, value in decision.items()}
        attributes[f"{DECISION}.action_kind"] = "reply_email"
        assert attributes.items() <= step["attributes"].items()
        (event,) = step["events"]
        assert event["name"] == DECISION and attributes.items() <= event["attributes"].items()
    sent = traces[str(items[first.item_id].trace_id)]["spans"]
    (execution,) = [span for span in sent if span["name"] == "execute reply_email"]
    assert execution["outputs"]["outcome"] == "executed"


def decide_all(queue: ApprovalQueue, decision: str) -> None:
    for row in queue.list([ApprovalStatus.PENDING]):
        assert row.id is not None
        if decision == "rejected":
            queue.reject(row.id, shown_hash=row.shown_hash, reason="no", actor="carol")
        else:
            queue.ignore(row.id, shown_hash=row.shown_hash, actor="carol")


async def test_after_mlflow_was_down_every_trace_arrives_once_and_langfuse_was_not_held_back(
    tracing_settings: Settings,
    mlflow_experiment: MlflowExperiment,
    langfuse_project: LangfuseProject,
    clock: FrozenClock,
) -> None:
    settings = mlflow_settings(tracing_settings)
    environment = {**langfuse_project.environment(), **mlflow_experiment.environment()}
    runtime = Runtime(settings, Secrets(environment), clock)
    mlflow = mlflow_experiment.server
    try:
        daemon = runtime.daemon
        queue = tui_queue(runtime, settings, clock)
        deliver(settings.maildir_path, email_bytes("Before", message_id="<before@x>"))
        await daemon.run_once()
        decide_all(queue, "rejected")
        runtime.tracer.flush()
        await daemon.run_once()  # both backends have the first item, decision included
        assert runtime.tracing.spool.counts().rows == 0

        mlflow.stop()  # MLflow is down while two more items are processed and decided
        for subject in ("During", "Outage"):
            deliver(settings.maildir_path, email_bytes(subject, message_id=f"<{subject}@x>"))
        await daemon.run_once()
        decide_all(queue, "ignored")
        runtime.tracer.flush()
        await daemon.run_once()
        items = runtime.ledger.items()
        assert len(items) == 3
        trace_ids = {str(item.trace_id) for item in items}
        received = langfuse_project.received
        decided_in_langfuse = {s.trace_id for s in received.spans if s.name == "human decision"}
        assert decided_in_langfuse == trace_ids  # Langfuse was not held back by the outage
        assert {score["traceId"] for score in received.scores} == trace_ids
        assert runtime.tracing.spool.pending("otlp", SpoolKind.SPANS) > 0  # kept for MLflow
        assert runtime.tracing.spool.pending("langfuse", SpoolKind.SPANS) == 0

        mlflow.start()  # back on the same port and store
        clock.advance(seconds=settings.tracing.forward_backoff_max_seconds)
        await daemon.run_once()
        assert runtime.tracing.spool.counts().rows == 0
    finally:
        await runtime.aclose()

    traces = by_trace_id(mlflow_experiment.traces())
    assert set(traces) == trace_ids  # every item, one trace each
    sent: dict[str, set[str]] = {trace_id: set() for trace_id in trace_ids}
    for span in received.spans:  # the same spans went to both backends
        sent[span.trace_id].add(span.span_id)
    for trace_id, trace in traces.items():
        span_ids = Counter(span["span_id"] for span in trace["spans"])
        assert set(span_ids) == sent[trace_id] and max(span_ids.values()) == 1
        decisions = [span for span in trace["spans"] if span["name"] == "human decision"]
        assert len(decisions) == 1  # nothing twice
    values = Counter(
        span["attributes"][f"{DECISION}.value"]
        for trace in traces.values()
        for span in trace["spans"]
        if span["name"] == "human decision"
    )
    assert values == {"rejected": 1, "ignored": 2}
