"""Memory audit entries are never lost: git commits first, so an entry the database missed is
entered later, and a memory command does its git part even when the database is down."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from ambient.approvals.audit import AuditLog
from ambient.approvals.tables import AuditEntry
from ambient.core.db import make_engine
from ambient.core.diffs import make_diff, sha256_text
from ambient.memory.audit import MemoryAudit
from ambient.memory.changes import MemoryChanges
from ambient.memory.history import MemoryHistory
from ambient.memory.store import MemoryStore
from tests.conftest import CommandLine, FrozenClock

UNREACHABLE = "postgresql://ambient@127.0.0.1:9/ambient"  # the discard port: refused at once


def memory_entries(engine: Engine) -> list[AuditEntry]:
    entries = AuditLog(engine).entries(newest_first=False)
    return [entry for entry in entries if entry.event.startswith("memory_")]


def learn(store: MemoryStore, audit: MemoryAudit | None, rule: str, key: str) -> str:
    """An applied change adding `rule` to triage_rules.md (entered by `audit`, if given)."""
    text = store.read("triage_rules.md")
    anchor = "- Anything from my manager or a customer.\n"
    return (
        MemoryChanges(store.folder, audit=audit)
        .apply(
            file="triage_rules.md",
            diff=make_diff("triage_rules.md", text, text.replace(anchor, anchor + rule)),
            base_sha256=sha256_text(text),
            subject="memory: triage_rules.md — update",
            reason="",
            key=key,
            approval_id=41,
            item_id=7,
        )
        .revision
    )


def test_an_undo_and_a_hand_edit_whose_entries_were_lost_are_entered_by_the_next_command(
    engine: Engine, clock: FrozenClock, store: MemoryStore, cli: CommandLine
) -> None:
    applied = learn(store, MemoryAudit(engine, clock, "outbox"), "- Alerts: notify.\n", "k-1")
    contacts = store.folder / "contacts.md"
    contacts.write_text(contacts.read_text("utf-8") + "- Sam: the plumber.\n", "utf-8")
    history = MemoryHistory(store.folder)  # no audit: as if the process died after each commit
    with history.locked():
        hand_edit = history.commit_user_edits()
    undo = history.undo()
    assert [entry.event for entry in memory_entries(engine)] == ["memory_applied"]

    code, _ = cli.json("memory", "log")

    assert code == 0
    _, late_edit, late_undo = memory_entries(engine)
    assert (late_edit.event, late_edit.details["commit"]) == ("memory_hand_edit", hand_edit)
    assert late_edit.details["files"] == ["contacts.md"] and late_edit.details["recorded_late"]
    assert (late_undo.event, late_undo.details["commit"]) == ("memory_undone", undo.revision)
    assert late_undo.details["undoes"] == applied and late_undo.approval_id == 41
    cli.json("memory", "log")  # entered once, never twice
    assert len(memory_entries(engine)) == 3
    assert AuditLog(engine).verify_chain().ok


def test_a_reason_posing_as_an_undo_is_not_entered_as_one(
    engine: Engine, clock: FrozenClock, store: MemoryStore
) -> None:
    audit = MemoryAudit(engine, clock, "outbox")
    first = learn(store, audit, "- Alerts: notify.\n", "k-1")
    text = store.read("triage_rules.md")
    MemoryChanges(store.folder, audit=audit).apply(
        file="triage_rules.md",
        diff=make_diff("triage_rules.md", text, text + "- Invoices: notify.\n"),
        base_sha256=sha256_text(text),
        subject="memory: triage_rules.md — update",
        reason=f"Invoices.\n\nAmbient-Undoes: {first}",
        key="k-2",
    )

    assert audit.catch_up(MemoryHistory(store.folder)) == 0
    assert [entry.event for entry in memory_entries(engine)] == ["memory_applied"] * 2


def test_undo_with_the_database_down_undoes_once_and_says_the_entry_comes_later(
    engine: Engine,
    clock: FrozenClock,
    store: MemoryStore,
    cli: CommandLine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audit = MemoryAudit(engine, clock, "outbox")
    older = learn(store, audit, "- Alerts: notify.\n", "k-1")
    newer = learn(store, audit, "- Invoices: notify.\n", "k-2")
    monkeypatch.setenv("AMBIENT_DATABASE_URL", UNREACHABLE)

    code, out = cli.run("memory", "undo")

    assert code == 0
    assert "audit entry will be written later" in " ".join(out.split())
    assert "- Invoices: notify." not in store.read("triage_rules.md")
    assert "- Alerts: notify." in store.read("triage_rules.md")  # the older change stays
    monkeypatch.delenv("AMBIENT_DATABASE_URL")
    cli.json("memory", "log")  # the database is back
    (undone,) = [entry for entry in memory_entries(engine) if entry.event == "memory_undone"]
    assert undone.details["undoes"] == newer and undone.details["undoes"] != older


def test_edit_with_the_database_down_commits_the_edit_and_warns(
    store: MemoryStore, cli: CommandLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISUAL", "sed -i s/Alex/Alexandra/")
    monkeypatch.setenv("AMBIENT_DATABASE_URL", UNREACHABLE)

    code, out = cli.run("memory", "edit", "contacts.md")

    assert code == 0 and "Alexandra Kim" in store.read("contacts.md")
    assert MemoryHistory(store.folder).log(limit=1)[0].subject == "user edit: contacts.md"
    assert "audit entry will be written later" in " ".join(out.split())


def test_an_entry_the_database_refuses_mid_command_is_deferred_not_raised(
    clock: FrozenClock, store: MemoryStore
) -> None:
    down = make_engine(UNREACHABLE)  # reachable when the command began, gone now
    audit = MemoryAudit(down, clock, "cli:robin")
    contacts = store.folder / "contacts.md"
    contacts.write_text(contacts.read_text("utf-8") + "- Sam: the plumber.\n", "utf-8")
    history = MemoryHistory(store.folder, audit)

    with history.locked():
        revision = history.commit_user_edits()

    assert revision is not None and audit.deferred == [revision]
    down.dispose()
