"""One runtime builds each part once; the daemon, the CLI and the TUI share its parts."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import Engine

from ambient.core.config import Secrets, Settings
from ambient.core.errors import ConfigError
from ambient.core.items import ItemState
from ambient.runtime import Runtime
from tests.agent.conftest import claim_one, meeting_email
from tests.conftest import REPO, FrozenClock, child_environment

PARTS = (
    "engine",
    "ledger",
    "policy",
    "approval_events",
    "queue",
    "audit",
    "executors",
    "outbox",
    "memory",
    "memory_audit",
    "memory_history",
    "memory_executor",
    "reflector",
    "model",
    "agent",
    "untraced_agent",
    "processor",
    "reviser",
    "tracing",
    "tracer",
    "forwarder",
    "sources",
    "jobs",
    "daemon",
)


def test_asking_for_a_part_twice_gives_the_same_object(runtime: Runtime) -> None:
    for name in PARTS:
        assert getattr(runtime, name) is getattr(runtime, name), name


def test_the_daemon_its_worker_and_its_jobs_share_one_of_each_part(runtime: Runtime) -> None:
    daemon = runtime.daemon
    jobs = {job.name: getattr(job.tick, "__self__", None) for job in daemon.jobs}
    # the agent's parts are built on first use (`part` builds them now)
    reviser, reflector = jobs["agent-feedback"].part, jobs["memory-reflection"].part
    outbox = jobs["outbox"]
    assert (reviser, outbox, reflector) == (runtime.reviser, runtime.outbox, runtime.reflector)
    traced = daemon.worker.processor
    assert traced is runtime.processor
    agent_processor = traced.processor.part

    queue = runtime.queue
    assert agent_processor.queue is queue and reviser.queue is queue and reflector.queue is queue
    assert agent_processor.agent is runtime.agent and reviser.agent is runtime.agent
    assert daemon.ledger is runtime.ledger
    assert daemon.worker.ledger is runtime.ledger and reviser.ledger is runtime.ledger
    assert runtime.agent.memory is runtime.memory and reflector.store is runtime.memory
    assert runtime.agent.model is runtime.model and reflector.agent.model is runtime.model
    assert queue.policy is runtime.policy and outbox.policy is runtime.policy
    assert queue.events is runtime.approval_events and outbox.events is runtime.approval_events
    tracer = runtime.tracer
    assert daemon.steps is tracer and traced.tracer is tracer
    assert agent_processor.tracer is tracer and reviser.tracer is tracer
    assert reflector.steps is tracer
    assert outbox.executors["memory_update"] is runtime.memory_executor
    assert outbox.executors["reply_email"] is outbox.executors["send_email"]  # one SMTP client
    engines = {
        id(part.engine)
        for part in (runtime.ledger, queue, outbox, reflector, runtime.memory_executor)
    }
    assert engines == {id(runtime.engine)}
    assert {id(source) for source in daemon.sources} == {id(s) for s in runtime.sources}


def test_parts_that_need_no_database_open_none(
    settings: Settings, secrets: Secrets, clock: FrozenClock
) -> None:
    runtime = Runtime(settings, secrets, clock)
    assert runtime.untraced_agent.memory is runtime.memory  # what `ambient triage` uses
    assert runtime.policy is not None and runtime.model is not None
    runtime.close()
    assert "engine" not in vars(runtime) and "tracing" not in vars(runtime)
    assert not settings.database_path.exists()


def test_importing_the_runtime_imports_none_of_its_parts() -> None:
    heavy = ["sqlalchemy", "pydantic_ai", "textual", "apscheduler", "langfuse", "httpx"]
    code = (
        "import sys, ambient.runtime\n"
        f"print([name for name in {heavy!r} if name in sys.modules])\n"
        "print(sorted(name for name in sys.modules if name.startswith('ambient.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded, ambient = result.stdout.splitlines()
    assert loaded == "[]"
    assert "ambient.daemon" not in ambient and "ambient.approvals" not in ambient


def test_closing_closes_what_the_runtime_opened_not_what_it_was_handed(
    settings: Settings, secrets: Secrets, clock: FrozenClock, engine: Engine
) -> None:
    own = Runtime(settings, secrets, clock)
    pool, tracing = own.engine.pool, own.tracing
    own.close()
    assert own.engine.pool is not pool  # disposed
    assert tracing._closed

    handed = Runtime(settings, secrets, clock, engine=engine, tracing=tracing)
    pool = engine.pool
    handed.close()
    assert engine.pool is pool  # the caller's engine stays as it was


def test_a_reload_builds_new_parts_on_the_same_database_tracing_and_clock(
    runtime: Runtime, settings: Settings, secrets: Secrets
) -> None:
    changed = settings.model_copy(update={"fallback_model": "test"})
    fresh = runtime.reloaded(changed, secrets)
    assert fresh.settings is changed and fresh.clock is runtime.clock
    assert fresh.engine is runtime.engine and fresh.tracing is runtime.tracing
    assert fresh.queue is not runtime.queue and fresh.model is not runtime.model
    fresh.close()
    assert not runtime.tracing._closed  # the first runtime's to close, with its database


async def test_the_agent_is_built_at_the_first_item_and_its_jobs_when_rows_wait_for_them(
    runtime: Runtime,
) -> None:
    daemon = runtime.daemon
    lazy = daemon.worker.processor.processor
    jobs = {job.name: getattr(job.tick, "__self__", None) for job in daemon.jobs}
    feedback, reflection = jobs["agent-feedback"], jobs["memory-reflection"]
    assert await feedback.tick() == 0 and await reflection.tick() == 0
    assert not (lazy.built or feedback.built or reflection.built)
    assert "agent" not in vars(runtime) and "model" not in vars(runtime)

    ledger, queue = runtime.ledger, runtime.queue
    claimed = claim_one(ledger, meeting_email())
    outcome = await daemon.worker.processor.process(claimed)
    ledger.complete(claimed.id, claimed.lease_owner, outcome.state, outcome.triage)
    assert outcome.state is ItemState.AWAITING_APPROVAL  # the demo model drafts a reply
    assert lazy.built and lazy.part.agent is runtime.agent  # built once, then kept
    assert await feedback.tick() == 0 and not (feedback.built or reflection.built)

    (draft,) = queue.list(item_id=claimed.id)
    queue.feedback(draft.id, shown_hash=queue.shown_hash(draft), message="Shorter", actor="r")
    assert await feedback.tick() == 1 and feedback.part is runtime.reviser
    await reflection.tick()  # the feedback is something to learn from
    assert reflection.built and reflection.part is runtime.reflector


def test_a_missing_provider_key_is_reported_when_the_daemon_is_built(
    settings: Settings, clock: FrozenClock
) -> None:
    hosted = settings.model_copy(update={"model": "anthropic:claude-haiku-4-5"})
    runtime = Runtime(hosted, Secrets({}), clock)
    with pytest.raises(ConfigError, match=r"AMBIENT_MODEL=.*needs ANTHROPIC_API_KEY"):
        _ = runtime.daemon  # what `ambient run` builds before it starts
    runtime.close()
