"""The daemon runs the span forwarder as a periodic job, and closes tracing when it stops."""

from __future__ import annotations

from ambient.core.config import Secrets, Settings
from ambient.core.ids import trace_id_for_item
from ambient.daemon.service import PeriodicJob
from ambient.runtime import Runtime
from ambient.sources.maildir import deliver
from ambient.tracing.context import root_span_id_for_trace
from ambient.tracing.tracer import ItemRef
from tests.conftest import FrozenClock
from tests.daemon.mail import email_bytes
from tests.servers.langfuse_receiver import LangfuseProject
from tests.servers.smtp import SmtpServer


def forwarder_job(jobs: list[PeriodicJob]) -> PeriodicJob | None:
    return next((job for job in jobs if job.name == "tracing-forwarder"), None)


async def test_the_daemon_forwards_the_spool_as_a_periodic_job(
    tracing_settings: Settings, langfuse_project: LangfuseProject, clock: FrozenClock
) -> None:
    runtime = Runtime(tracing_settings, Secrets(langfuse_project.environment()), clock)
    try:
        job = forwarder_job(runtime.jobs)
        tracing = runtime.tracing
        assert runtime.daemon.steps is tracing.tracer  # one per process, shared by every part
        assert job is not None and job.name == "tracing-forwarder"
        assert job.interval_seconds == tracing_settings.tracing.forward_interval_seconds
        item = ItemRef(trace_id=trace_id_for_item("inbox", "k"), source="inbox", key="k")
        tracing.tracer.record_step(item, "ingest")

        assert await job.tick() == 1
        assert [span.name for span in langfuse_project.received.spans] == ["ingest"]
    finally:
        await runtime.aclose()


async def test_without_keys_the_daemon_has_no_forwarder_and_tracing_is_off(
    settings: Settings, clock: FrozenClock
) -> None:
    runtime = Runtime(settings, Secrets({}), clock)
    try:
        assert forwarder_job(runtime.jobs) is None and runtime.forwarder is None
        assert not runtime.tracing.tracer.enabled
    finally:
        await runtime.aclose()


async def test_a_daemon_pass_traces_the_item_with_the_agents_own_spans(
    tracing_settings: Settings, langfuse_project: LangfuseProject, clock: FrozenClock
) -> None:
    runtime = Runtime(tracing_settings, Secrets(langfuse_project.environment()), clock)
    deliver(tracing_settings.maildir_path, email_bytes("Lunch?", message_id="<lunch@x>"))
    try:
        daemon = runtime.daemon  # the real agent (the test model), wrapped for tracing
        await daemon.run_once()  # polls, processes, then runs every job: the forwarder too
        (item,) = runtime.ledger.items()
        assert item.trace_id is not None
        spans = langfuse_project.wait_for(lambda: langfuse_project.received.spans)
    finally:
        await runtime.aclose()

    assert {span.trace_id for span in spans} == {item.trace_id}
    root_id = root_span_id_for_trace(item.trace_id)
    roots = [span for span in spans if span.span_id == root_id]
    assert roots and all(span.name == "item" for span in roots)
    assert any(span.scope == "pydantic-ai" for span in spans)
    children = {span.span_id for span in spans}
    for span in spans:
        assert span.parent_span_id is None or span.parent_span_id in children, span.name


async def test_one_trace_holds_every_step_from_ingest_to_execution_and_the_final_state(
    tracing_settings: Settings,
    langfuse_project: LangfuseProject,
    clock: FrozenClock,
    smtp_server: SmtpServer,
) -> None:
    from ambient.approvals.events import TracedApprovals
    from ambient.approvals.policy import PolicyGate
    from ambient.approvals.queue import ApprovalQueue
    from ambient.approvals.tables import ApprovalStatus

    tracing_settings.smtp = smtp_server.settings(from_address="me@example.com")
    runtime = Runtime(tracing_settings, Secrets(langfuse_project.environment()), clock)
    deliver(tracing_settings.maildir_path, email_bytes("Notes?", message_id="<notes@x>"))
    try:
        daemon = runtime.daemon
        await daemon.run_once()
        queue = ApprovalQueue(  # the TUI's, in another process
            runtime.engine,
            clock,
            tracing_settings,
            PolicyGate.from_settings(tracing_settings),
            events=TracedApprovals(runtime.tracer),
        )
        (row,) = queue.list([ApprovalStatus.PENDING])  # the test model drafts one reply
        assert row.id is not None and row.kind == "reply_email"
        queue.approve(row.id, shown_hash=row.shown_hash, acknowledge_warnings=True, actor="test")
        await daemon.run_once()  # the outbox sends the reply; the item settles
        (item,) = runtime.ledger.items()
        assert item.state == "done"
        runtime.tracer.flush()
        await daemon.run_once()  # forwards what the decisions and execution spooled
        names = langfuse_project.wait_for(
            lambda: (
                {span.name for span in langfuse_project.received.spans}
                >= {"ingest", "human decision", "execute reply_email"}
                and {span.name for span in langfuse_project.received.spans}
            )
        )
        scores = langfuse_project.wait_for(lambda: langfuse_project.received.scores)
    finally:
        await runtime.aclose()
    assert {"ingest", "human decision", "execute reply_email"} <= names
    assert {score.get("traceId") for score in scores} == {item.trace_id}
    roots = [
        span
        for span in langfuse_project.received.spans
        if span.span_id == root_span_id_for_trace(item.trace_id)
    ]
    assert any('"done"' in str(span.attributes) for span in roots)
