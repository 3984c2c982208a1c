"""Building the approvals parts from Settings (used by the daemon's assembly, the CLI, the TUI)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from ambient.approvals.events import ApprovalEvents, TracedApprovals
from ambient.approvals.executors import Executor
from ambient.approvals.executors.notes import NotesExecutor
from ambient.approvals.executors.smtp import SmtpExecutor
from ambient.approvals.executors.webhook import WebhookExecutor
from ambient.approvals.journal import DeliveryJournal
from ambient.approvals.outbox import Outbox
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval
from ambient.core.clock import Clock
from ambient.core.config import Secrets, Settings

if TYPE_CHECKING:
    from ambient.tracing.assembly import Tracing


def build_queue(
    settings: Settings, engine: Engine, clock: Clock, events: ApprovalEvents | None = None
) -> ApprovalQueue:
    return ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings), events)


def default_executors(
    settings: Settings, secrets: Secrets, engine: Engine, clock: Clock
) -> dict[str, Executor]:
    """SMTP for both email kinds, notes, webhooks (memory_update comes from ambient.memory)."""
    smtp = SmtpExecutor(engine, clock, settings, secrets, DeliveryJournal(engine, clock))
    return {
        "reply_email": smtp,
        "send_email": smtp,
        "write_note": NotesExecutor(settings.notes_dir, settings.data_dir / "outbox" / "notes"),
        "call_webhook": WebhookExecutor(settings.outbox.webhook_timeout_seconds),
    }


def build_outbox(
    settings: Settings,
    secrets: Secrets,
    engine: Engine,
    clock: Clock,
    extra_executors: Mapping[str, Executor] | None = None,
    events: ApprovalEvents | None = None,
) -> Outbox:
    executors = {**default_executors(settings, secrets, engine, clock), **(extra_executors or {})}
    policy = PolicyGate.from_settings(settings)
    return Outbox(engine, clock, settings, secrets, policy, executors, events=events)


class DecisionScores:
    """Each decision made in the TUI or the CLI as a score on its item's trace, tracing being
    opened on the first decision so starting the app costs nothing for it."""

    def __init__(self, settings: Settings, secrets: Secrets, engine: Engine, clock: Clock) -> None:
        self.settings = settings
        self.secrets = secrets
        self.engine = engine
        self.clock = clock
        self.tracing: Tracing | None = None
        self._lock = threading.Lock()  # decisions are stored from worker threads

    def _events(self) -> TracedApprovals:
        with self._lock:
            if self.tracing is None:
                from ambient.tracing.assembly import open_tracing

                self.tracing = open_tracing(self.settings, self.secrets, self.engine, self.clock)
            return TracedApprovals(self.tracing.tracer)

    def decided(self, approval: Approval) -> None:
        self._events().decided(approval)

    def executed(self, approval: Approval, outcome: str) -> None:
        self._events().executed(approval, outcome)

    def close(self) -> None:
        with self._lock:
            if self.tracing is not None:
                self.tracing.close()
