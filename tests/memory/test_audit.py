"""Memory changes are audit entries: applied, undone and hand edits committed, in the hash chain."""

from __future__ import annotations

import getpass
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

from ambient.approvals.audit import AuditLog
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, AuditEntry
from ambient.core.config import Settings
from ambient.memory.audit import MemoryAudit
from ambient.memory.executor import MemoryUpdateExecutor
from ambient.memory.history import MemoryHistory
from ambient.memory.reflection import Reflector
from ambient.memory.store import MemoryStore
from tests.conftest import CommandLine, FrozenClock
from tests.memory.scripted import Reflecting, add_line

RULE = "- Security alerts from our cloud provider: notify, high priority."


def memory_entries(engine: Engine) -> list[AuditEntry]:
    entries = AuditLog(engine).entries(newest_first=False)
    return [entry for entry in entries if entry.event.startswith("memory_")]


async def approved_proposal(
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
) -> Approval:
    row = drafted_reply()
    assert row.id is not None
    queue.reject(row.id, shown_hash=queue.shown_hash(row), reason="alerts matter", actor="test")
    step = add_line(store, "triage_rules.md", "- Anything from my manager", RULE)
    await make_reflector(Reflecting(step)).tick()
    (proposal,) = [r for r in queue.list() if r.kind == "memory_update"]
    assert proposal.id is not None
    return queue.approve(proposal.id, shown_hash=queue.shown_hash(proposal), actor="test")


async def test_an_applied_change_its_hand_edit_and_its_undo_are_audit_entries(
    settings: Settings,
    engine: Engine,
    clock: FrozenClock,
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
) -> None:
    proposal = await approved_proposal(queue, store, drafted_reply, make_reflector)
    profile = store.folder / "profile.md"
    profile.write_text(profile.read_text("utf-8") + "- I like tea.\n", "utf-8")
    executor = MemoryUpdateExecutor(engine, clock, settings.memory_dir)

    result = await executor.execute(proposal, "idem-1")
    await executor.execute(proposal, "idem-1")  # a retry commits nothing, enters nothing
    history = MemoryHistory(store.folder, MemoryAudit(engine, clock, "cli:robin"))
    undo = history.undo()

    hand_edit, applied, undone = memory_entries(engine)
    assert (hand_edit.event, hand_edit.actor) == ("memory_hand_edit", "outbox")
    assert hand_edit.details["files"] == ["profile.md"]
    assert hand_edit.details["commit"] == history.log()[2].revision  # "user edit: profile.md"
    assert (applied.event, applied.approval_id) == ("memory_applied", proposal.id)
    assert applied.item_id == proposal.item_id
    assert applied.details["files"] == ["triage_rules.md"]
    assert applied.details["commit"] == result.details["revision"]
    assert (undone.event, undone.actor, undone.approval_id) == (
        "memory_undone",
        "cli:robin",
        proposal.id,
    )
    assert undone.details["commit"] == undo.revision
    assert undone.details["undoes"] == result.details["revision"]
    assert AuditLog(engine).verify_chain().ok


async def test_an_auto_applied_change_is_an_audit_entry(
    settings: Settings,
    engine: Engine,
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
) -> None:
    settings.memory.auto_apply = True
    row = drafted_reply()
    assert row.id is not None
    queue.reject(row.id, shown_hash=queue.shown_hash(row), reason="alerts matter", actor="test")
    step = add_line(store, "triage_rules.md", "- Anything from my manager", RULE)

    await make_reflector(Reflecting(step)).tick()

    (applied,) = memory_entries(engine)
    assert (applied.event, applied.actor, applied.item_id) == (
        "memory_applied",
        "reflector",
        row.item_id,
    )
    assert applied.details["commit"] == MemoryHistory(store.folder).log()[0].revision
    assert f"rejection of approval {row.id}" in applied.details["subject"]


def test_memory_commands_audit_the_users_edit_and_undo_and_log_verifies(
    engine: Engine,
    store: MemoryStore,
    cli: CommandLine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VISUAL", "sed -i s/Alex/Alexandra/")

    code, edited = cli.json("memory", "edit", "contacts.md")
    assert code == 0
    code, undone = cli.json("memory", "undo", edited["revision"])
    assert code == 0

    hand_edit, undo = memory_entries(engine)
    actor = f"cli:{getpass.getuser()}"
    assert (hand_edit.event, hand_edit.actor) == ("memory_hand_edit", actor)
    assert hand_edit.details["files"] == ["contacts.md"]
    assert hand_edit.details["commit"] == edited["revision"]
    assert (undo.event, undo.details["commit"]) == ("memory_undone", undone["revision"])
    code, log = cli.json("log", "--verify")
    assert code == 0 and log["chain"]["ok"]
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_entry SET details_json = '{}' WHERE event = 'memory_hand_edit'")
        )
    assert cli.run("log", "--verify")[0] == 1
