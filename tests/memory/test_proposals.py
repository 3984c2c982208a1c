"""Memory proposals do not pile up: a change already made is dropped, applied ones close twins."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.executors import PermanentExecutionError
from ambient.approvals.kinds.memory_update import MemoryUpdate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus, ReflectionStatus
from ambient.core.config import Settings
from ambient.core.diffs import sha256_text
from ambient.memory.causes import cause_id, describe_cause
from ambient.memory.executor import MemoryUpdateExecutor
from ambient.memory.reflection import Reflector
from ambient.memory.reproposals import ReproposalQueue
from ambient.memory.store import MemoryStore
from tests.conftest import FrozenClock
from tests.memory.scripted import Reflecting, add_line

RULE = "- Security alerts from our cloud provider: notify, high priority."
OTHER = "- Renewal notices for our domains: notify a month ahead."
MANAGER = "- Anything from my manager"


def reject(queue: ApprovalQueue, row: Approval, reason: str = "no") -> Approval:
    assert row.id is not None
    return queue.reject(row.id, shown_hash=queue.shown_hash(row), reason=reason, actor="test")


def memory_updates(queue: ApprovalQueue) -> list[Approval]:
    return [row for row in queue.list() if row.kind == "memory_update"]


def approve(queue: ApprovalQueue, row: Approval) -> Approval:
    assert row.id is not None
    return queue.approve(row.id, shown_hash=queue.shown_hash(row), actor="test")


@pytest.fixture
def executor(settings: Settings, engine: Engine, clock: FrozenClock) -> MemoryUpdateExecutor:
    return MemoryUpdateExecutor(engine, clock, settings.memory_dir)


def queue_proposal(
    queue: ApprovalQueue, store: MemoryStore, item_id: int, line: str, cause: int
) -> Approval:
    """A proposal adding `line` under the manager rule, queued as reflection queued them before
    it compared proposals (so identical ones could pile up)."""
    text = store.read("triage_rules.md")
    file, diff = add_line(store, "triage_rules.md", MANAGER, line)()
    update = MemoryUpdate(file=file, diff=diff, base_sha256=sha256_text(text), reason="r")
    (row,) = queue.queue_drafts(
        context=ActionContext(item_id, frozenset(), f"memory:{file}"),
        trace_id="trace-1",
        run_state=None,
        drafts=[DraftedAction("memory_update", cause_id(cause), update.model_dump(), "learned")],
    )
    return row


async def test_a_second_correction_teaching_the_same_change_is_dropped_and_logged(
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ambient.memory")
    first = reject(queue, drafted_reply(), "Security alerts matter")
    second = reject(queue, drafted_reply(), "I told you: security alerts matter")
    model = Reflecting(
        add_line(store, "triage_rules.md", MANAGER, RULE),
        add_line(store, "triage_rules.md", MANAGER, RULE),
    )

    assert await make_reflector(model).tick() == 2

    (proposal,) = memory_updates(queue)
    assert proposal.tool_call_id == cause_id(first.id or 0)
    assert queue.get(second.id or 0).reflection_status == ReflectionStatus.DONE
    dropped = [r.getMessage() for r in caplog.records if "dropped a proposal" in r.getMessage()]
    assert dropped and f"approval {proposal.id} (pending) already makes that change" in dropped[0]


async def test_a_different_change_to_the_same_lines_is_queued_naming_the_open_one(
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
) -> None:
    reject(queue, drafted_reply())
    reject(queue, drafted_reply())
    reject(queue, drafted_reply())
    model = Reflecting(
        add_line(store, "triage_rules.md", MANAGER, RULE),
        add_line(store, "triage_rules.md", MANAGER, OTHER),
        add_line(store, "triage_rules.md", "- Never forward", "- Never pay anything."),
    )

    assert await make_reflector(model).tick() == 3

    first, overlapping, elsewhere = memory_updates(queue)
    assert f"It changes the same lines as approval {first.id}, still open" in overlapping.rationale
    assert "same lines" not in first.rationale and "same lines" not in elsewhere.rationale


async def test_once_one_is_applied_its_waiting_twins_are_closed_as_already_applied(
    engine: Engine,
    clock: FrozenClock,
    queue: ApprovalQueue,
    store: MemoryStore,
    item_id: int,
    executor: MemoryUpdateExecutor,
) -> None:
    applied = queue_proposal(queue, store, item_id, RULE, cause=101)
    twin = queue_proposal(queue, store, item_id, RULE, cause=102)
    different = queue_proposal(queue, store, item_id, OTHER, cause=103)

    await executor.execute(approve(queue, applied), "idem-1")

    closed = queue.get(twin.id or 0)
    assert closed.status == ApprovalStatus.IGNORED and closed.decided_by == "outbox"
    assert closed.decision_message is not None
    assert closed.decision_message.startswith("already applied: triage_rules.md has this change")
    assert f"by approval {applied.id}" in closed.decision_message
    assert queue.get(different.id or 0).status == ApprovalStatus.PENDING
    assert store.read("triage_rules.md").count(RULE) == 1


async def test_an_approved_twin_ends_already_applied_not_edited_since_the_proposal(
    engine: Engine,
    clock: FrozenClock,
    queue: ApprovalQueue,
    store: MemoryStore,
    item_id: int,
    executor: MemoryUpdateExecutor,
) -> None:
    first = approve(queue, queue_proposal(queue, store, item_id, RULE, cause=101))
    second = approve(queue, queue_proposal(queue, store, item_id, RULE, cause=102))

    await executor.execute(first, "idem-1")
    result = await executor.execute(second, "idem-2")

    assert "triage_rules.md: already applied (the file has this change" in result.summary
    assert store.read("triage_rules.md").count(RULE) == 1
    assert ReproposalQueue(engine, clock).pending() == []


async def test_a_change_meeting_another_applied_change_does_not_blame_the_user(
    queue: ApprovalQueue,
    store: MemoryStore,
    item_id: int,
    executor: MemoryUpdateExecutor,
) -> None:
    first = approve(queue, queue_proposal(queue, store, item_id, RULE, cause=101))
    second = approve(queue, queue_proposal(queue, store, item_id, OTHER, cause=102))
    await executor.execute(first, "idem-1")

    with pytest.raises(PermanentExecutionError) as raised:
        await executor.execute(second, "idem-2")

    message = str(raised.value)
    assert "triage_rules.md (changed since the proposal by " in message
    assert "learned from" in message  # the commit that changed those lines
    assert "edited since" not in message and "your edit" not in message


def test_a_change_learned_from_feedback_names_it_plainly(
    engine: Engine, queue: ApprovalQueue, drafted_reply: Callable[[], Approval]
) -> None:
    row = drafted_reply()
    assert row.id is not None
    queue.feedback(row.id, shown_hash=queue.shown_hash(row), message="shorter", actor="test")

    assert describe_cause(engine, cause_id(row.id)) == (
        f"feedback on approval {row.id} (item {row.item_id})"
    )
