"""The audit log: append-only, each row hashing the previous one, so tampering shows."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from ambient.approvals.audit import GENESIS_HASH, AuditLog, append_entry, args_diff, args_digest
from ambient.approvals.drafts import DraftedAction
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import ApprovalStatus
from ambient.core.db import write_session
from tests.approvals.conftest import Queue, reply
from tests.conftest import CommandLine


def _decide_a_few(queue: ApprovalQueue, queue_for: Queue) -> None:
    a, b, c = queue_for(reply(), reply(body="two"), reply(body="three"))
    queue.approve(a.id, shown_hash=a.shown_hash, actor="me")
    queue.reject(b.id, shown_hash=b.shown_hash, reason="no", actor="me")
    queue.edit(c.id, shown_hash=c.shown_hash, args={**c.args, "body": "3"}, actor="me")


def test_the_chain_links_every_entry_to_the_one_before(
    queue: ApprovalQueue, queue_for: Queue, engine
):
    _decide_a_few(queue, queue_for)
    entries = AuditLog(engine).entries(newest_first=False)
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(
        later.prev_hash == earlier.entry_hash
        for earlier, later in zip(entries, entries[1:], strict=False)
    )
    report = AuditLog(engine).verify_chain()
    assert report.ok and report.checked == len(entries) == 6


def test_a_changed_entry_breaks_the_chain_there(queue: ApprovalQueue, queue_for: Queue, engine):
    _decide_a_few(queue, queue_for)
    victim = AuditLog(engine).entries(newest_first=False)[3]
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_entry SET actor = 'someone else' WHERE id = :id"), {"id": victim.id}
        )
    report = AuditLog(engine).verify_chain()
    assert (report.ok, report.broken_at, report.problem) == (
        False,
        victim.id,
        "contents were changed",
    )


def test_a_deleted_entry_breaks_the_chain_after_it(queue: ApprovalQueue, queue_for: Queue, engine):
    _decide_a_few(queue, queue_for)
    entries = AuditLog(engine).entries(newest_first=False)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entry WHERE id = :id"), {"id": entries[2].id})
    report = AuditLog(engine).verify_chain()
    assert not report.ok and report.broken_at == entries[3].id
    assert report.problem == "does not follow the previous entry"


def test_the_diff_names_each_changed_argument():
    draft = {"to": ["a@x.com"], "body": "hi", "subject": "s"}
    approved = {"to": ["a@x.com", "b@x.com"], "body": "hi", "subject": "s2"}
    assert args_diff(draft, approved) == {
        "subject": {"draft": "s", "approved": "s2"},
        "to": {"draft": ["a@x.com"], "approved": ["a@x.com", "b@x.com"]},
    }


def test_each_decision_to_run_records_the_hash_of_the_arguments_approved(
    queue: ApprovalQueue, queue_for: Queue, engine
):
    _decide_a_few(queue, queue_for)
    decisions = [
        entry
        for entry in AuditLog(engine).entries(newest_first=False)
        if entry.event in ("approved", "edited")
    ]
    assert len(decisions) == 2
    for entry in decisions:
        assert entry.approval_id is not None
        row = queue.get(entry.approval_id)
        assert entry.details["args_sha256"] == args_digest(row.effective_args)


@pytest.mark.parametrize("column", ["args_json", "edited_args_json"])
def test_editing_approved_arguments_in_the_database_fails_log_verify(
    cli: CommandLine, queue: ApprovalQueue, queue_for: Queue, engine, column: str
):
    _decide_a_few(queue, queue_for)
    assert cli.run("log", "--verify")[0] == 0
    approved, _rejected, edited = queue.list(newest_first=False)
    victim = approved if column == "args_json" else edited
    forged = json.dumps({**victim.effective_args, "to": ["collector@attacker.example"]})
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE approval SET {column} = :forged WHERE id = :id"),
            {"forged": forged, "id": victim.id},
        )
    code, out = cli.run("log", "--verify")
    assert code == 1
    assert f"approval {victim.id}: its arguments are not the ones approved" in " ".join(out.split())
    report = AuditLog(engine).verify_chain()
    assert (report.ok, report.approval_id) == (False, victim.id)


def test_an_approval_set_to_run_behind_the_logs_back_fails_verify(
    queue: ApprovalQueue, queue_for: Queue, engine
):
    (row,) = queue_for(reply())
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE approval SET status = 'approved' WHERE id = :id"), {"id": row.id}
        )
    report = AuditLog(engine).verify_chain()
    assert not report.ok and report.approval_id == row.id
    assert report.problem == (
        f"approval {row.id} is approved but the audit log has no decision to run it"
    )


def _set_status(engine, approval_id: int, status: str, **columns: str) -> None:
    assignments = ", ".join(["status = :status", *(f"{name} = :{name}" for name in columns)])
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE approval SET {assignments} WHERE id = :id"),
            {"status": status, "id": approval_id, **columns},
        )


def test_a_rejected_approval_set_back_to_approved_fails_verify(
    cli: CommandLine, queue: ApprovalQueue, queue_for: Queue, engine
):
    (row,) = queue_for(reply())
    approved = queue.approve(row.id, shown_hash=row.shown_hash, actor="me")
    undone = queue.undo(row.id, actor="me")
    queue.reject(row.id, shown_hash=undone.shown_hash, reason="no", actor="me")
    assert approved.idempotency_key and AuditLog(engine).verify_chain().ok
    _set_status(engine, row.id, "approved")  # the outbox would send what the human rejected

    report = AuditLog(engine).verify_chain()

    assert (report.ok, report.broken_at, report.approval_id) == (False, None, row.id)
    rejected = AuditLog(engine).entries(approval_id=row.id)[0]
    assert report.problem == (
        f"approval {row.id} is approved but its last decision in the audit log is "
        f"rejected (entry {rejected.id})"
    )
    code, log = cli.json("log", "--verify")
    assert code == 1 and log["chain"]["approval_id"] == row.id
    assert log["chain"]["broken_at"] is None


async def test_an_executed_approval_set_back_to_approved_fails_verify(
    queue: ApprovalQueue, queue_for: Queue, engine, clock, settings, secrets
):
    from tests.approvals.test_outbox import make_outbox

    note = DraftedAction("write_note", "call-note", {"path": "a.md", "content": "a"}, "why")
    (row,) = queue_for(note)
    queue.approve(row.id, shown_hash=row.shown_hash, actor="me")
    assert await make_outbox(engine, clock, settings, secrets).tick() == 1
    assert queue.get(row.id).status == ApprovalStatus.EXECUTED
    assert AuditLog(engine).verify_chain().ok
    _set_status(engine, row.id, "approved", idempotency_key="ambient-forged-key")  # sent again

    report = AuditLog(engine).verify_chain()

    executed = AuditLog(engine).entries(approval_id=row.id)[0]
    assert (report.ok, report.broken_at, report.approval_id) == (False, None, row.id)
    assert report.problem == (
        f"approval {row.id} is approved but the audit log says it is executed (entry {executed.id})"
    )


def test_the_runs_the_log_records_verify(queue: ApprovalQueue, queue_for: Queue, engine, clock):
    """Claimed, failed, dead, retried, delivered: each status the log's events lead to."""
    (row,) = queue_for(reply())
    queue.approve(row.id, shown_hash=row.shown_hash, actor="me")
    for event, status in [
        ("executing", "executing"),
        ("failed", "failed"),
        ("executing", "executing"),
        ("dead", "dead"),
        ("retried", "approved"),
        ("executing", "executing"),
        ("dead", "dead"),
        ("delivered", "executed"),
    ]:
        with write_session(engine) as session:
            append_entry(session, at=clock.now(), actor="outbox", event=event, approval_id=row.id)
        _set_status(engine, row.id, status)
        assert AuditLog(engine).verify_chain().ok, (event, status)
    _set_status(engine, row.id, "dead")
    assert not AuditLog(engine).verify_chain().ok


def test_decisions_from_before_the_argument_hash_are_counted_as_unverifiable(
    cli: CommandLine, queue: ApprovalQueue, queue_for: Queue, engine, clock
):
    old, new = queue_for(reply(), reply(body="two"))
    queue.approve(new.id, shown_hash=new.shown_hash, actor="me")
    with write_session(engine) as session:  # as a decision was entered before the hash existed
        append_entry(
            session,
            at=clock.now(),
            actor="cli:me",
            event="approved",
            approval_id=old.id,
            details={"kind": old.kind, "shown_hash": old.shown_hash, "warnings": []},
        )
    _set_status(engine, old.id, "approved")

    report = AuditLog(engine).verify_chain()

    assert report.ok and report.unverifiable == 1
    code, out = cli.run("log", "--verify")
    assert code == 0
    assert "1 approval decided before decisions recorded their arguments' hash" in " ".join(
        out.split()
    )
    code, log = cli.json("log", "--verify")
    assert code == 0 and log["chain"]["unverifiable"] == 1
