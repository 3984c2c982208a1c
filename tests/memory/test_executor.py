"""Approved memory changes run in the outbox: committed once, and never over a user's edit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from ambient.approvals.executors import PermanentExecutionError
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import Settings
from ambient.core.diffs import sha256_text
from ambient.memory.executor import MemoryUpdateExecutor
from ambient.memory.history import MemoryHistory
from ambient.memory.reflection import Reflector
from ambient.memory.reproposals import ReproposalQueue
from ambient.memory.store import MemoryStore
from ambient.memory.tables import ReproposalStatus
from tests.conftest import FrozenClock
from tests.memory.scripted import Reflecting, add_line

RULE = "- Security alerts from our cloud provider: notify, high priority."


@pytest.fixture
def reflect(make_reflector: Callable[[Reflecting], Reflector]) -> Callable[..., Reflector]:
    def make(*steps: object) -> Reflector:
        return make_reflector(Reflecting(*steps))  # type: ignore[arg-type]

    return make


@pytest.fixture
def executor(settings: Settings, engine: Engine, clock: FrozenClock) -> MemoryUpdateExecutor:
    return MemoryUpdateExecutor(engine, clock, settings.memory_dir)


async def propose(
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    reflect: Callable[..., Reflector],
) -> tuple[Approval, Approval]:
    """Reject a draft and let reflection propose a triage rule: (the rejected, the proposal)."""
    row = drafted_reply()
    assert row.id is not None
    rejected = queue.reject(row.id, shown_hash=queue.shown_hash(row), reason="x", actor="test")
    await reflect(add_line(store, "triage_rules.md", "- Anything from my manager", RULE)).tick()
    (proposal,) = [r for r in queue.list() if r.kind == "memory_update"]
    return rejected, proposal


def approve(queue: ApprovalQueue, row: Approval) -> Approval:
    assert row.id is not None
    return queue.approve(row.id, shown_hash=queue.shown_hash(row), actor="test")


async def test_an_approved_change_is_committed_naming_the_decision(
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    reflect: Callable[..., Reflector],
    executor: MemoryUpdateExecutor,
) -> None:
    rejected, proposal = await propose(queue, store, drafted_reply, reflect)

    result = await executor.execute(approve(queue, proposal), "idem-1")
    again = await executor.execute(queue.get(proposal.id or 0), "idem-1")

    assert RULE in store.read("triage_rules.md")
    assert store.read("triage_rules.md").count(RULE) == 1
    newest = MemoryHistory(store.folder).log()[0]
    assert newest.subject == (
        f"memory: triage_rules.md — learned from rejection of approval {rejected.id} "
        f"(item {rejected.item_id})"
    )
    assert f"Approval {proposal.id}, item {rejected.item_id}." in newest.body
    assert result.details["revision"] == newest.revision
    assert result.summary == f"triage_rules.md: committed as {newest.revision[:10]}"
    assert again.summary.startswith("triage_rules.md: already committed")


async def test_the_users_edit_of_the_diff_is_what_runs(
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    reflect: Callable[..., Reflector],
    executor: MemoryUpdateExecutor,
) -> None:
    _, proposal = await propose(queue, store, drafted_reply, reflect)
    assert proposal.id is not None
    args = {**proposal.args, "diff": proposal.args["diff"].replace("high priority", "urgent")}
    edited = queue.edit(proposal.id, shown_hash=queue.shown_hash(proposal), args=args, actor="t")

    await executor.execute(edited, "idem-2")

    assert "- Security alerts from our cloud provider: notify, urgent." in store.read(
        "triage_rules.md"
    )
    assert "(edited by the user before approval)" in MemoryHistory(store.folder).log()[0].body


async def test_a_hand_edit_between_proposal_and_apply_is_kept_and_the_change_reproposed(
    engine: Engine,
    clock: FrozenClock,
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    reflect: Callable[..., Reflector],
    executor: MemoryUpdateExecutor,
) -> None:
    _, proposal = await propose(queue, store, drafted_reply, reflect)
    rules = store.folder / "triage_rules.md"
    mine = rules.read_text("utf-8").replace(
        "- Anything from my manager or a customer.",
        "- Anything from my manager (Alex) or a customer.\n- Anything about the Q4 launch.",
    )
    rules.write_text(mine, encoding="utf-8")

    with pytest.raises(PermanentExecutionError, match="your edit is kept"):
        await executor.execute(approve(queue, proposal), "idem-3")

    assert rules.read_text("utf-8") == mine  # the user's text is intact
    assert MemoryHistory(store.folder).log()[0].subject == "user edit: triage_rules.md"
    (pending,) = ReproposalQueue(engine, clock).pending()
    assert pending.approval_id == proposal.id and pending.cause == proposal.tool_call_id

    model_step = add_line(store, "triage_rules.md", "- Anything about the Q4 launch", RULE)
    assert await reflect(model_step).tick() == 1

    (_, again) = [row for row in queue.list() if row.kind == "memory_update"]
    assert again.status == ApprovalStatus.PENDING
    assert again.args["base_sha256"] == sha256_text(mine)
    assert again.tool_call_id == proposal.tool_call_id  # still names the original decision
    assert ReproposalQueue(engine, clock).pending() == []

    await executor.execute(approve(queue, again), "idem-4")
    text = rules.read_text("utf-8")
    assert "- Anything from my manager (Alex) or a customer." in text and RULE in text


async def test_a_reproposal_can_conclude_there_is_nothing_left_to_change(
    engine: Engine,
    clock: FrozenClock,
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    reflect: Callable[..., Reflector],
    executor: MemoryUpdateExecutor,
) -> None:
    _, proposal = await propose(queue, store, drafted_reply, reflect)
    rules = store.folder / "triage_rules.md"
    rules.write_text(rules.read_text("utf-8").replace("manager", "boss"), encoding="utf-8")
    with pytest.raises(PermanentExecutionError):
        await executor.execute(approve(queue, proposal), "idem-5")

    await reflect("the user's edit already says it").tick()

    assert len([row for row in queue.list() if row.kind == "memory_update"]) == 1
    from sqlmodel import Session, select

    from ambient.memory.tables import MemoryReproposal

    with Session(engine) as session:
        (row,) = session.exec(select(MemoryReproposal)).all()
    assert row.status == ReproposalStatus.DONE and row.new_approval_id is None


async def test_feedback_on_a_proposal_gets_a_revised_proposal(
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    reflect: Callable[..., Reflector],
) -> None:
    _, proposal = await propose(queue, store, drafted_reply, reflect)
    assert proposal.id is not None
    queue.feedback(
        proposal.id, shown_hash=queue.shown_hash(proposal), message="Put it under Act", actor="t"
    )
    step = add_line(store, "triage_rules.md", "- Meeting requests", "- Security alerts: act.")
    reflector = reflect(step)

    assert await reflector.tick() >= 1

    revised = [row for row in queue.list() if row.kind == "memory_update" and row.parent_id]
    assert [row.parent_id for row in revised] == [proposal.id]
    assert "- Security alerts: act." in revised[0].args["diff"]
    assert queue.get(proposal.id).revised_at is not None
    assert queue.awaiting_revision() == []
