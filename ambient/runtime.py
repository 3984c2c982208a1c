"""One assembly of ambient's parts from Settings + Secrets + a clock, shared by every edge.

The daemon, each CLI command and the TUI take their parts from one :class:`Runtime` instead of
building their own, so a process has one engine, one ledger, one approval queue, one memory
store, one model and agent, one tracing — and the clock a test passes in is the clock every part
decides with. Each part is built on first use and kept (a ``cached_property``): a command that
needs no database opens none, and importing this module imports none of the parts' packages.
A caller that already has a part hands it in before first use: ``Runtime(..., engine=engine)``
(which the caller then closes itself), or, in a test, ``runtime.processor = stand_in``.

:meth:`Runtime.close` (:meth:`Runtime.aclose` in the daemon) closes what the runtime opened.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from ambient.core.clock import Clock, SystemClock
from ambient.core.config import Secrets, Settings, SourceSettings

if TYPE_CHECKING:
    from pydantic_ai.models import Model
    from pydantic_ai.toolsets import AbstractToolset
    from sqlalchemy import Engine

    from ambient.agent.deps import AgentDeps
    from ambient.agent.examples import ExampleSource
    from ambient.agent.prerules import PreRules
    from ambient.agent.reviser import FeedbackReviser
    from ambient.agent.runner import TriageAgent
    from ambient.approvals.audit import AuditLog
    from ambient.approvals.autonomy_status import Autonomy
    from ambient.approvals.events import ApprovalEvents
    from ambient.approvals.executors import Executor
    from ambient.approvals.outbox import Outbox
    from ambient.approvals.policy import PolicyGate
    from ambient.approvals.queue import ApprovalQueue
    from ambient.core.ledger import Ledger
    from ambient.core.processing import ItemProcessor
    from ambient.core.review import ItemReview
    from ambient.daemon.alerts.dispatcher import AlertDispatcher
    from ambient.daemon.service import Daemon, PeriodicJob
    from ambient.mcp.servers import McpServers
    from ambient.memory.audit import MemoryAudit
    from ambient.memory.executor import MemoryUpdateExecutor
    from ambient.memory.history import MemoryHistory
    from ambient.memory.reflection import Reflector
    from ambient.memory.reproposals import ReproposalQueue
    from ambient.memory.store import MemoryStore
    from ambient.sources.base import Source
    from ambient.sources.state import SourceStateStore
    from ambient.tracing.assembly import Tracing
    from ambient.tracing.forwarder import SpanForwarder
    from ambient.tracing.tracer import ItemTracer

log = logging.getLogger(__name__)


def cli_actor() -> str:
    """Who decides from the command line, as the audit log records it: `cli:user`."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:user"


class Runtime:
    def __init__(
        self,
        settings: Settings,
        secrets: Secrets,
        clock: Clock | None = None,
        *,
        actor: str | None = None,
        engine: Engine | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.clock: Clock = clock or SystemClock()
        self.actor = actor or cli_actor()  # the human deciding here (the TUI sets its own)
        self._handed_in: set[str] = set()  # parts the caller opened, and closes
        if engine is not None:
            self.engine = engine
            self._handed_in.add("engine")
        if tracing is not None:
            self.tracing = tracing
            self._handed_in.add("tracing")

    def reloaded(self, settings: Settings, secrets: Secrets) -> Runtime:
        """A runtime for a new configuration (SIGHUP) on this process's database and tracing:
        its parts are built anew from the new settings as they are used (the MCP servers'
        processes go on when their configuration is the same)."""
        fresh = Runtime(
            settings,
            secrets,
            self.clock,
            actor=self.actor,
            engine=self.engine,
            tracing=self.tracing,
        )
        same = (settings.mcp, secrets) == (self.settings.mcp, self.secrets)
        if same and "mcp_servers" in self.__dict__:
            fresh.mcp_servers = self.mcp_servers
            fresh._handed_in.add("mcp_servers")
        return fresh

    # ---- storage --------------------------------------------------------------------------
    @cached_property
    def engine(self) -> Engine:
        """The database, migrated, opened with the configured busy timeout."""
        from ambient.core.db import open_database

        settings = self.settings
        return open_database(settings.resolved_database_url, settings.database_busy_timeout_seconds)

    @cached_property
    def ledger(self) -> Ledger:
        from ambient.core.ledger import Ledger

        return Ledger(self.engine, self.clock, self.settings.worker)

    @cached_property
    def reviews(self) -> ItemReview:
        """The human's review of notify items and ignore decisions (read, confirm, overturn)."""
        from ambient.core.review import ItemReview

        return ItemReview(self.engine, self.clock)

    @cached_property
    def source_state(self) -> SourceStateStore:
        from ambient.sources.state import SourceStateStore

        return SourceStateStore(self.engine)

    # ---- approvals ------------------------------------------------------------------------
    @cached_property
    def policy(self) -> PolicyGate:
        from ambient.approvals.policy import PolicyGate

        return PolicyGate.from_settings(self.settings)

    @cached_property
    def approval_events(self) -> ApprovalEvents:
        """Decisions and executions on the items' traces (tracing opened by the first one)."""
        from ambient.approvals.events import TracedOnFirstEvent

        return TracedOnFirstEvent(lambda: self.tracer)

    @cached_property
    def queue(self) -> ApprovalQueue:
        from ambient.approvals.queue import ApprovalQueue

        return ApprovalQueue(
            self.engine, self.clock, self.settings, self.policy, self.approval_events
        )

    @cached_property
    def audit(self) -> AuditLog:
        from ambient.approvals.audit import AuditLog

        return AuditLog(self.engine)

    @cached_property
    def autonomy(self) -> Autonomy:
        """Earned autonomy's evidence per action class, the kill switch, resets, eval results."""
        from ambient.approvals.autonomy_status import Autonomy

        return Autonomy(self.engine, self.clock, self.settings)

    @cached_property
    def executors(self) -> dict[str, Executor]:
        """Each action kind's executor (the registry's; memory_update's is the memory's)."""
        from ambient.approvals.kinds import ActionKind, build_executors

        supplied: dict[str, Executor] = {ActionKind.MEMORY_UPDATE: self.memory_executor}
        if self.settings.mcp:  # mcp_call's calls the agent's servers (one process each)
            from ambient.approvals.executors.mcp import McpExecutor
            from ambient.approvals.journal import DeliveryJournal

            journal = DeliveryJournal(self.engine, self.clock)
            supplied[ActionKind.MCP_CALL] = McpExecutor(self.mcp_servers, journal)
        return build_executors(self.settings, self.secrets, self.engine, self.clock, supplied)

    @cached_property
    def outbox(self) -> Outbox:
        from ambient.approvals.outbox import Outbox

        return Outbox(
            self.engine,
            self.clock,
            self.settings,
            self.secrets,
            self.policy,
            self.executors,
            events=self.approval_events,
        )

    # ---- memory ---------------------------------------------------------------------------
    @cached_property
    def memory(self) -> MemoryStore:
        from ambient.memory.store import MemoryStore

        return MemoryStore(self.settings.memory_dir)

    @cached_property
    def memory_audit(self) -> MemoryAudit:
        """Memory changes made here (undo, edits) as audit entries in the actor's name."""
        from ambient.memory.audit import MemoryAudit

        return MemoryAudit(self.engine, self.clock, self.actor)

    @cached_property
    def memory_history(self) -> MemoryHistory:
        from ambient.memory.history import MemoryHistory

        return MemoryHistory(self.memory.folder, self.memory_audit)

    @cached_property
    def memory_executor(self) -> MemoryUpdateExecutor:
        from ambient.memory.executor import MemoryUpdateExecutor

        return MemoryUpdateExecutor(self.engine, self.clock, self.memory.folder)

    @cached_property
    def reflector(self) -> Reflector:
        """Turns edits, feedback and rejections into memory proposals (with the agent's model)."""
        from ambient.memory.reflection import Reflector

        return Reflector(
            engine=self.engine,
            clock=self.clock,
            settings=self.settings,
            queue=self.queue,
            store=self.memory,
            model=self.model,
            reproposals=self.reproposals,
            steps=self.tracer,
        )

    @cached_property
    def reproposals(self) -> ReproposalQueue:
        """Memory changes to propose again (the reflector's, and what it waits for)."""
        from ambient.memory.reproposals import ReproposalQueue

        return ReproposalQueue(self.engine, self.clock)

    def _reflection_waiting(self) -> bool:
        """Is there anything :meth:`Reflector.tick` looks for (decisions to learn from, memory
        proposals sent back, re-proposals, overturned ignores)? Asked before it is built."""
        return bool(
            self.queue.pending_reflections(1)
            or self._feedback_waiting()
            or self.reproposals.pending(1)
            or self.reviews.pending_reflections(1)
        )

    # ---- the model and the agent ----------------------------------------------------------
    @cached_property
    def model(self) -> Model:
        """AMBIENT_MODEL (with its fallback), for the agent and for reflection."""
        from ambient.models.resolve import resolve_model

        return resolve_model(self.settings, self.secrets)

    @cached_property
    def agent(self) -> TriageAgent:
        """The triage agent, its model calls traced."""
        return self._agent(traced=True)

    @cached_property
    def untraced_agent(self) -> TriageAgent:
        """The agent for a dry run (`ambient triage`): it records nothing, and reads the ledger
        for examples only when there is one (it never creates the database)."""
        return self._agent(traced=False)

    def _agent(self, *, traced: bool) -> TriageAgent:
        from ambient.agent.runner import TriageAgent

        capabilities = self.tracer.agent_capabilities() if traced else []
        return TriageAgent(
            self.settings,
            self.model,
            self.memory,
            self.clock,
            capabilities=capabilities,
            examples=self._examples(only_existing=not traced),
            toolsets=self._mcp_toolsets(),
        )

    def _examples(self, *, only_existing: bool) -> ExampleSource | None:
        """Past decisions from the ledger as few-shot examples (None when they are off, or
        when `only_existing` and there is no database yet)."""
        settings = self.settings
        if settings.agent.examples <= 0:
            return None
        opened = "engine" in self.__dict__
        if only_existing and not (
            opened or settings.database_url or settings.database_path.exists()
        ):
            return None
        from ambient.agent.examples import LedgerExamples

        return LedgerExamples(self.engine)

    # ---- MCP servers ----------------------------------------------------------------------
    @cached_property
    def mcp_servers(self) -> McpServers:
        """The [[mcp]] servers, shared by the agent (their tools) and the outbox (mcp_call)."""
        from ambient.mcp.catalog import mcp_dir
        from ambient.mcp.servers import McpServers

        settings = self.settings
        return McpServers(settings.mcp, self.secrets, self.clock, mcp_dir(settings))

    def _mcp_toolsets(self) -> list[AbstractToolset[AgentDeps]]:
        if not self.settings.mcp:  # the MCP client is not even imported then
            return []
        from ambient.agent.mcp import mcp_toolsets

        return mcp_toolsets(self.mcp_servers)

    async def close_mcp(self) -> None:
        """Stop the MCP servers' processes, if any were started."""
        if self._opened("mcp_servers"):
            await self.mcp_servers.aclose()

    @cached_property
    def processor(self) -> ItemProcessor:
        """What the worker runs on each item: the agent, inside the item's trace.

        The model strings are checked now (a ConfigError at start-up); the agent is built at
        the first item (an idle daemon does not hold Pydantic AI), unless a model runs in this
        process (built now, so that the daemon loads it at start-up: ``warm_up``) or only
        Pydantic AI knows its provider (built now, which checks it)."""
        from ambient.core.lazy import BuiltOnFirstItem
        from ambient.daemon.traced_processor import TracedProcessor
        from ambient.models.spec import model_specs

        specs = model_specs(self.settings, self.secrets)
        if any(spec.in_process or not spec.checked for spec in specs):
            return TracedProcessor(self._agent_processor(), self.tracer)
        return TracedProcessor(BuiltOnFirstItem(self._agent_processor), self.tracer)

    def _agent_processor(self) -> ItemProcessor:
        from ambient.agent.processor import AgentProcessor

        return AgentProcessor(self.agent, self.queue, self.tracer, self.pre_rules)

    @cached_property
    def pre_rules(self) -> PreRules:
        """The user's [[rules]], then the built-in [prerules]: they decide before any model."""
        from ambient.agent.prerules import PreRules

        return PreRules.from_settings(self.settings)

    @cached_property
    def reviser(self) -> FeedbackReviser:
        """Resumes paused runs with the human's feedback and queues the revised drafts."""
        from ambient.agent.reviser import FeedbackReviser

        return FeedbackReviser(
            self.agent, self.queue, self.ledger, self.clock, self.settings.worker, self.tracer
        )

    def _feedback_waiting(self) -> bool:
        """Are rows sent back for revision (the reviser's; memory_update's are the
        reflector's)? Asked before either is built."""
        return bool(self.queue.awaiting_revision(1))

    # ---- tracing --------------------------------------------------------------------------
    @cached_property
    def tracing(self) -> Tracing:
        """One per process: the Langfuse SDK keeps one client per key."""
        from ambient.tracing.assembly import open_tracing

        return open_tracing(self.settings, self.secrets, self.engine, self.clock)

    @cached_property
    def tracer(self) -> ItemTracer:
        return self.tracing.tracer

    @cached_property
    def forwarder(self) -> SpanForwarder | None:
        """Sends the span spool to Langfuse and/or the OTLP endpoint (None: tracing is off)."""
        return self.tracing.forwarder()

    # ---- alerts ---------------------------------------------------------------------------
    @cached_property
    def alerts(self) -> AlertDispatcher:
        """Tells the user what waits, through the channels [alerts] turns on (each traced)."""
        from ambient.daemon.alerts.channels import build_channels
        from ambient.daemon.alerts.dispatcher import AlertDispatcher
        from ambient.daemon.alerts.trace import TracedAlerts

        settings = self.settings
        channels = build_channels(settings, self.secrets, self.clock, self.secrets.values)
        trace = TracedAlerts(self.tracer)
        return AlertDispatcher(settings.alerts, self.engine, self.clock, channels, trace)

    # ---- the daemon -----------------------------------------------------------------------
    def sources_for(self, configs: Sequence[SourceSettings]) -> list[Source]:
        """A source for each configuration (a reload builds only the changed ones)."""
        from ambient.core.errors import ConfigError
        from ambient.sources.imap import ImapSource
        from ambient.sources.maildir import MaildirSource
        from ambient.sources.spool import SpoolSource

        sources: list[Source] = []
        for config in configs:
            if config.type == "maildir":
                path = self.settings.source_path(config)
                sources.append(MaildirSource(config.name, path, owned=config.owned))
            elif config.type == "spool":
                path = self.settings.source_path(config)
                sources.append(SpoolSource(config.name, path, self.clock))
            elif config.type == "imap":
                # A missing password is this account's error (raised at its polls), not ours.
                password = self.secrets.get(config.password_env)
                sources.append(ImapSource(config, password, self.source_state, self.clock))
            else:
                raise ConfigError(
                    f"sources: {config.name}: source type {config.type!r} not available"
                )
        return sources

    @cached_property
    def sources(self) -> list[Source]:
        return self.sources_for(self.settings.sources)

    @cached_property
    def jobs(self) -> list[PeriodicJob]:
        """The periodic jobs beside polling and the worker: feedback, outbox, reflection, spans."""
        from ambient.core.lazy import BuiltOnFirstWork
        from ambient.daemon.service import PeriodicJob

        settings = self.settings
        if not settings.can_send_email:
            log.warning(
                "no SMTP account is configured: approved emails will fail to send; add [smtp] "
                "(or [sources.smtp] for an IMAP account) to %s",
                settings.config_file,
            )
        # the agent's jobs are built when rows wait for them (an idle daemon holds no agent)
        feedback = BuiltOnFirstWork(self._feedback_waiting, lambda: self.reviser)
        reflection = BuiltOnFirstWork(self._reflection_waiting, lambda: self.reflector)
        jobs = [
            PeriodicJob("agent-feedback", settings.agent.revise_interval_seconds, feedback.tick),
            PeriodicJob("outbox", settings.outbox.interval_seconds, self.outbox.tick),
            PeriodicJob(
                "memory-reflection", settings.memory.reflect_interval_seconds, reflection.tick
            ),
        ]
        self.tracing.retire_other_destinations()  # the daemon's are the configured ones
        if self.forwarder is not None:
            interval = settings.tracing.forward_interval_seconds
            jobs.append(PeriodicJob("tracing-forwarder", interval, self.forwarder.tick))
        if self.alerts.active:
            jobs.append(PeriodicJob("alerts", settings.alerts.interval_seconds, self.alerts.tick))
        return jobs

    @cached_property
    def daemon(self) -> Daemon:
        from ambient.core.leases import holder_name, process_name
        from ambient.daemon.health import HeartbeatRecorder
        from ambient.daemon.service import Daemon
        from ambient.daemon.worker import Worker

        settings = self.settings
        worker = Worker(self.ledger, self.processor, settings.worker, holder_name())
        heartbeat = HeartbeatRecorder(self.engine, self.clock, settings.model_name, process_name())
        return Daemon(
            settings=settings,
            clock=self.clock,
            ledger=self.ledger,
            worker=worker,
            sources=self.sources,
            jobs=self.jobs,
            heartbeat=heartbeat,
            close=[self.close_tracing, self.close_mcp],
            steps=self.tracer,
        )

    def serve(
        self, *, once: bool = False, log_level: str | None = None, log_format: str | None = None
    ) -> int:
        """`ambient run`: the daemon on this runtime until stopped (one pass with `once`); on
        SIGHUP it goes on with :meth:`reloaded` for the new configuration. The exit code."""
        from ambient.daemon.runner import run_daemon

        return run_daemon(self, once=once, log_level=log_level, log_format=log_format)

    # ---- closing --------------------------------------------------------------------------
    def _opened(self, name: str) -> bool:
        return name in self.__dict__ and name not in self._handed_in

    async def close_tracing(self) -> None:
        """Spool what tracing still holds in memory, then close the span forwarder."""
        if self._opened("tracing"):
            await asyncio.to_thread(self.tracing.close)
        forwarder = self.__dict__.get("forwarder")
        if forwarder is not None:
            await forwarder.aclose()

    async def aclose(self) -> None:
        await self.close_tracing()
        await self.close_mcp()
        self.close()

    def close(self) -> None:
        """Close what this runtime opened (tracing, the database), not what it was handed."""
        if self._opened("tracing"):
            self.tracing.close()  # closing twice is a no-op
        if self._opened("engine"):
            self.engine.dispose()
