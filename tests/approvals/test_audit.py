"""The audit log: append-only, each row hashing the previous one, so tampering shows."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from ambient.approvals.audit import GENESIS_HASH, AuditLog, args_diff, args_digest
from ambient.approvals.queue import ApprovalQueue
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
