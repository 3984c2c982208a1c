"""Hooks for what happens to approvals, so tracing can follow without approvals knowing it.

The queue calls :meth:`ApprovalEvents.decided` after a decision is committed (a human's from the
TUI, the CLI or any other process, or an earned-autonomy rule's at intake), the outbox
:meth:`ApprovalEvents.executed` after each outcome. A hook that fails is logged and never undoes
or blocks the work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from ambient.approvals.autonomy import is_automatic
from ambient.approvals.tables import Approval
from ambient.tracing.steps import StepRecorder

log = logging.getLogger(__name__)


class ApprovalEvents(Protocol):
    def decided(self, approval: Approval) -> None: ...

    def executed(self, approval: Approval, outcome: str) -> None:
        """outcome: executed, failed, dead or blocked; delivered when a human confirmed that an
        email whose delivery was uncertain arrived."""
        ...


class DecisionTracer(StepRecorder, Protocol):
    """What :class:`TracedApprovals` needs of ambient.tracing's ItemTracer."""

    def record_decision(
        self,
        item: int,
        *,
        approval_id: int,
        decision: str,
        comment: str | None = None,
        details: dict[str, Any] | None = None,
        step: str = "human decision",
    ) -> str: ...

    def finish_if_settled(self, item_id: int) -> None: ...


class TracedApprovals:
    """Decisions as a step and a score on the item's trace; executions as steps under it."""

    def __init__(self, tracer: DecisionTracer) -> None:
        self.tracer = tracer

    def decided(self, approval: Approval) -> None:
        if approval.decision is None or approval.id is None:
            return
        self.tracer.record_decision(
            approval.item_id,
            approval_id=approval.id,
            decision=approval.decision.value,
            comment=approval.decision_message,
            details={"kind": approval.kind, "decided_by": approval.decided_by},
            step="automatic decision" if is_automatic(approval.decided_by) else "human decision",
        )
        self.tracer.finish_if_settled(approval.item_id)

    def executed(self, approval: Approval, outcome: str) -> None:
        self.tracer.record_step(
            approval.item_id,
            f"execute {approval.kind}",
            input={"approval_id": approval.id, "args": approval.effective_args},
            output={"outcome": outcome, "result": approval.result, "attempt": approval.attempts},
            error=approval.last_error if outcome in ("failed", "dead") else None,
        )
        self.tracer.finish_if_settled(approval.item_id)


class TracedOnFirstEvent:
    """The approval events as steps and scores on the item's trace (``TracedApprovals``), with
    the tracer opened on the first event: a CLI command or the TUI that decides nothing costs
    nothing for tracing. Decisions are stored from worker threads, hence the lock."""

    def __init__(self, open_tracer: Callable[[], DecisionTracer]) -> None:
        self._open_tracer = open_tracer
        self._traced: TracedApprovals | None = None
        self._lock = threading.Lock()

    def _events(self) -> TracedApprovals:
        with self._lock:
            if self._traced is None:
                self._traced = TracedApprovals(self._open_tracer())
            return self._traced

    @property
    def opened(self) -> bool:
        return self._traced is not None

    def warm(self) -> None:
        """Open the tracer ahead of the first event (the TUI does, after its first frame)."""
        try:
            self._events()
        except Exception:  # noqa: BLE001 - the first event will report it again
            log.exception("opening tracing for decisions failed")

    def decided(self, approval: Approval) -> None:
        self._events().decided(approval)

    def executed(self, approval: Approval, outcome: str) -> None:
        self._events().executed(approval, outcome)


def notify(events: ApprovalEvents | None, method: str, *args: Any) -> None:
    """Call one hook; its failure is logged, never raised."""
    if events is None:
        return
    try:
        getattr(events, method)(*args)
    except Exception:  # noqa: BLE001 - a hook must never stop a decision or an execution
        log.exception("approval event %s failed", method)
