"""The audit log: append-only, each row hashing the previous one, so tampering shows."""

from __future__ import annotations

from sqlalchemy import text

from ambient.approvals.audit import GENESIS_HASH, AuditLog, args_diff
from ambient.approvals.queue import ApprovalQueue
from tests.approvals.conftest import Queue, reply


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
