"""The whole loop through the real outbox: reject -> proposal -> approve -> commit -> undo."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import Secrets, Settings
from ambient.memory.history import MemoryHistory
from ambient.memory.reflection import Reflector
from ambient.memory.store import MemoryStore
from ambient.runtime import Runtime
from tests.conftest import FrozenClock
from tests.memory.scripted import Reflecting, add_line

RULE = "- Meeting moves from customers: notify me, do not answer for me."


async def test_a_rejection_is_learned_applied_by_the_outbox_and_undone(
    settings: Settings,
    secrets: Secrets,
    engine: Engine,
    clock: FrozenClock,
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
) -> None:
    before = store.read("triage_rules.md")
    outbox = Runtime(settings, secrets, clock, engine=engine).outbox  # the daemon's outbox
    model = Reflecting(
        add_line(store, "triage_rules.md", "- Meeting requests", RULE),
        add_line(store, "triage_rules.md", "- Never forward", RULE),
    )
    reflector = make_reflector(model)
    draft = drafted_reply()
    assert draft.id is not None
    queue.reject(draft.id, shown_hash=queue.shown_hash(draft), reason="Ask me first", actor="me")

    await reflector.tick()
    (proposal,) = [row for row in queue.list() if row.kind == "memory_update"]
    assert proposal.id is not None
    queue.approve(proposal.id, shown_hash=queue.shown_hash(proposal), actor="me")
    await outbox.tick()

    executed = queue.get(proposal.id)
    assert executed.status == ApprovalStatus.EXECUTED, executed.last_error
    assert executed.result is not None and executed.result["file"] == "triage_rules.md"
    assert RULE in store.read("triage_rules.md")
    history = MemoryHistory(store.folder)
    assert history.log()[0].subject == (
        f"memory: triage_rules.md — learned from rejection of approval {draft.id} "
        f"(item {draft.item_id})"
    )

    history.undo()
    assert store.read("triage_rules.md") == before


async def test_a_conflict_in_the_outbox_is_reproposed_not_forced(
    settings: Settings,
    secrets: Secrets,
    engine: Engine,
    clock: FrozenClock,
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
) -> None:
    outbox = Runtime(settings, secrets, clock, engine=engine).outbox  # the daemon's outbox
    model = Reflecting(
        add_line(store, "triage_rules.md", "- Meeting requests", RULE),
        add_line(store, "triage_rules.md", "- Meeting invitations", RULE),
    )
    reflector = make_reflector(model)
    draft = drafted_reply()
    assert draft.id is not None
    queue.reject(draft.id, shown_hash=queue.shown_hash(draft), reason="Ask me first", actor="me")
    await reflector.tick()
    (proposal,) = [row for row in queue.list() if row.kind == "memory_update"]
    assert proposal.id is not None
    queue.approve(proposal.id, shown_hash=queue.shown_hash(proposal), actor="me")
    rules = store.folder / "triage_rules.md"
    mine = rules.read_text("utf-8").replace("- Meeting requests", "- Meeting invitations")
    rules.write_text(mine, encoding="utf-8")

    await outbox.tick()

    dead = queue.get(proposal.id)
    assert dead.status == ApprovalStatus.DEAD
    assert dead.last_error is not None and "your edit is kept" in dead.last_error
    assert rules.read_text("utf-8") == mine
    await reflector.tick()
    (_, again) = [row for row in queue.list() if row.kind == "memory_update"]
    assert again.status == ApprovalStatus.PENDING and again.id is not None
    queue.approve(again.id, shown_hash=queue.shown_hash(again), actor="me")
    await outbox.tick()
    assert queue.get(again.id).status == ApprovalStatus.EXECUTED
    text = rules.read_text("utf-8")
    assert "- Meeting invitations from colleagues" in text and RULE in text
