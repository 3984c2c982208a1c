"""Decisions and executions reach the item's trace (local trace log here: Langfuse is off)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from ambient.approvals.drafts import DraftedAction
from ambient.approvals.events import TracedApprovals
from ambient.approvals.kinds.write_note import NotesExecutor
from ambient.approvals.outbox import Outbox
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import Secrets, Settings
from ambient.core.ledger import Ledger
from ambient.tracing.assembly import Tracing, open_tracing
from tests.approvals.conftest import AddItem, context_for
from tests.conftest import FrozenClock


@pytest.fixture
def tracing(
    settings: Settings, secrets: Secrets, engine: Engine, clock: FrozenClock
) -> Iterator[Tracing]:
    tracing = open_tracing(settings, secrets, engine, clock)
    yield tracing
    tracing.close()


def _note(queue: ApprovalQueue, ledger: Ledger, add_item: AddItem) -> Approval:
    item_id = add_item()
    (row,) = queue.queue_drafts(
        context=context_for(ledger, item_id),
        trace_id=ledger.get(item_id).trace_id or "",
        run_state=None,
        drafts=[DraftedAction("write_note", "n1", {"path": "a.md", "content": "a"}, "r")],
    )
    return row


async def test_a_decision_is_scored_and_the_execution_is_a_step_on_the_trace(
    tracing: Tracing,
    engine: Engine,
    clock: FrozenClock,
    settings: Settings,
    secrets: Secrets,
    ledger: Ledger,
    add_item: AddItem,
):
    events = TracedApprovals(tracing.tracer)
    policy = PolicyGate.from_settings(settings)
    queue = ApprovalQueue(engine, clock, settings, policy, events)
    row = _note(queue, ledger, add_item)
    queue.feedback(row.id, shown_hash=row.shown_hash, message="shorter", actor="me")
    queue.undo(row.id, actor="me")
    again = queue.get(row.id)
    queue.approve(row.id, shown_hash=again.shown_hash, actor="me")
    notes = NotesExecutor(settings.notes_dir, settings.data_dir / "outbox" / "notes")
    executors: dict[str, Any] = {"write_note": notes}
    outbox = Outbox(engine, clock, settings, secrets, policy, executors, events=events)
    assert await outbox.tick() == 1
    trace = tracing.trace_log.events(trace_id=row.trace_id)
    scores = [event.detail["decision"] for event in trace if event.kind == "score"]
    assert scores == ["approved", "feedback"]  # newest first; one per decision
    assert "human decision" in [event.name for event in trace]
    (execution,) = [event for event in trace if event.name == "execute write_note"]
    assert execution.status == "ok" and execution.detail["output"]["outcome"] == "executed"


class BrokenEvents:
    def decided(self, approval: Approval) -> None:
        raise RuntimeError("tracing is down")

    def executed(self, approval: Approval, outcome: str) -> None:
        raise RuntimeError("tracing is down")


def test_a_failing_hook_never_undoes_the_decision(
    engine: Engine,
    clock: FrozenClock,
    settings: Settings,
    ledger: Ledger,
    add_item: AddItem,
    caplog: pytest.LogCaptureFixture,
):
    queue = ApprovalQueue(
        engine, clock, settings, PolicyGate.from_settings(settings), BrokenEvents()
    )
    row = _note(queue, ledger, add_item)
    assert queue.approve(row.id, shown_hash=row.shown_hash, actor="me").status == "approved"
    assert queue.get(row.id).status == ApprovalStatus.APPROVED
    assert "approval event decided failed" in caplog.text
