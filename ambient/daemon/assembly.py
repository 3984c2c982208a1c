"""Wiring: build the daemon's parts from Settings, in one place, with side effects passed in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from ambient.core.clock import Clock, SystemClock
from ambient.core.config import Secrets, Settings
from ambient.core.db import open_database
from ambient.core.errors import ConfigError
from ambient.core.leases import holder_name
from ambient.core.ledger import Ledger
from ambient.core.processing import ItemProcessor
from ambient.daemon.health import HeartbeatRecorder, process_name
from ambient.daemon.service import Daemon, PeriodicJob
from ambient.daemon.worker import Worker
from ambient.sources.base import Source
from ambient.sources.imap import ImapSource
from ambient.sources.maildir import MaildirSource
from ambient.sources.spool import SpoolSource
from ambient.sources.state import SourceStateStore

if TYPE_CHECKING:
    from ambient.tracing.assembly import Tracing


log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What every command of one process shares: settings, secrets, clock, database, ledger."""

    settings: Settings
    secrets: Secrets
    clock: Clock
    engine: Engine
    ledger: Ledger
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    tracing: Tracing | None = None  # opened on first use by build_tracing


def open_runtime(settings: Settings, secrets: Secrets, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    engine = open_database(settings.resolved_database_url, settings.database_busy_timeout_seconds)
    ledger = Ledger(engine, clock, settings.worker)
    return Runtime(settings=settings, secrets=secrets, clock=clock, engine=engine, ledger=ledger)


def build_sources(runtime: Runtime) -> list[Source]:
    settings = runtime.settings
    sources: list[Source] = []
    for config in settings.sources:
        if config.type == "maildir":
            path = settings.source_path(config)
            sources.append(MaildirSource(config.name, path, owned=config.owned))
        elif config.type == "spool":
            path = settings.source_path(config)
            sources.append(SpoolSource(config.name, path, runtime.clock))
        elif config.type == "imap":
            # A missing password is this account's error (raised at its polls), not the daemon's.
            password = runtime.secrets.get(config.password_env)
            state = SourceStateStore(runtime.engine)
            sources.append(ImapSource(config, password, state, runtime.clock))
        else:
            raise ConfigError(f"sources: {config.name}: source type {config.type!r} not available")
    return sources


def build_processor(runtime: Runtime) -> ItemProcessor:
    from ambient.agent.processor import build_processor as build_agent_processor
    from ambient.daemon.traced_processor import TracedProcessor

    tracer = build_tracing(runtime).tracer
    processor = build_agent_processor(
        runtime.settings, runtime.secrets, runtime.engine, runtime.clock, tracer
    )
    return TracedProcessor(processor, tracer)  # each item inside its trace's root (tracing)


def build_jobs(runtime: Runtime) -> list[PeriodicJob]:
    """Periodic jobs beside polling and the worker (outbox, feedback, span forwarder...)."""
    jobs: list[PeriodicJob] = []
    jobs.extend(build_agent_jobs(runtime))
    jobs.extend(build_approvals_jobs(runtime))
    jobs.extend(build_memory_jobs(runtime))
    jobs.extend(build_tracing_jobs(runtime))
    return jobs


def build_tracing(runtime: Runtime) -> Tracing:
    """This process's tracing: one per process (the Langfuse SDK keeps one client per key)."""
    if runtime.tracing is None:
        from ambient.tracing.assembly import open_tracing

        tracing = open_tracing(runtime.settings, runtime.secrets, runtime.engine, runtime.clock)
        runtime.tracing = tracing

        async def close_tracing() -> None:  # spools what is still in memory
            await asyncio.to_thread(tracing.close)

        runtime.closers.append(close_tracing)
    return runtime.tracing


def build_tracing_jobs(runtime: Runtime) -> list[PeriodicJob]:
    """The span forwarder: sends the durable spool to Langfuse (nothing when tracing is off)."""
    forwarder = build_tracing(runtime).forwarder()
    if forwarder is None:
        return []
    runtime.closers.append(forwarder.aclose)
    interval = runtime.settings.tracing.forward_interval_seconds
    return [PeriodicJob("tracing-forwarder", interval, forwarder.tick)]


def build_agent_jobs(runtime: Runtime) -> list[PeriodicJob]:
    """The feedback loop: paused runs resumed with the human's feedback, revised drafts queued."""
    from ambient.agent.reviser import build_reviser

    settings = runtime.settings
    tracer = build_tracing(runtime).tracer
    reviser = build_reviser(settings, runtime.secrets, runtime.engine, runtime.clock, tracer)
    return [PeriodicJob("agent-feedback", settings.agent.revise_interval_seconds, reviser.tick)]


def build_approvals_jobs(runtime: Runtime) -> list[PeriodicJob]:
    """The outbox: approved actions executed exactly once (SMTP, notes, webhooks, memory)."""
    from ambient.approvals.events import TracedApprovals
    from ambient.approvals.wiring import build_outbox
    from ambient.memory.executor import build_memory_executor

    settings = runtime.settings
    if not settings.can_send_email:
        log.warning(
            "no SMTP account is configured: approved emails will fail to send; add [smtp] "
            "(or [sources.smtp] for an IMAP account) to %s",
            settings.config_file,
        )
    memory = build_memory_executor(settings, runtime.engine, runtime.clock)
    events = TracedApprovals(build_tracing(runtime).tracer)
    outbox = build_outbox(
        settings,
        runtime.secrets,
        runtime.engine,
        runtime.clock,
        {"memory_update": memory},
        events=events,
    )
    return [PeriodicJob("outbox", settings.outbox.interval_seconds, outbox.tick)]


def build_memory_jobs(runtime: Runtime) -> list[PeriodicJob]:
    """Learning: the Reflector turns edit/feedback/reject decisions into memory proposals."""
    from ambient.memory.reflection import build_reflector

    settings = runtime.settings
    steps = build_tracing(runtime).tracer
    reflector = build_reflector(settings, runtime.secrets, runtime.engine, runtime.clock, steps)
    interval = settings.memory.reflect_interval_seconds
    return [PeriodicJob("memory-reflection", interval, reflector.tick)]


def build_daemon(
    runtime: Runtime,
    *,
    processor: ItemProcessor | None = None,
    sources: list[Source] | None = None,
) -> Daemon:
    processor = processor or build_processor(runtime)
    worker = Worker(runtime.ledger, processor, runtime.settings.worker, holder_name())
    heartbeat = HeartbeatRecorder(
        runtime.engine, runtime.clock, runtime.settings.model_name, process_name()
    )
    return Daemon(
        settings=runtime.settings,
        clock=runtime.clock,
        ledger=runtime.ledger,
        worker=worker,
        sources=sources if sources is not None else build_sources(runtime),
        jobs=build_jobs(runtime),
        heartbeat=heartbeat,
        close=runtime.closers,
        steps=build_tracing(runtime).tracer,
    )
