"""The queue's state machine: every decision, on exactly what was shown."""

from __future__ import annotations

import pytest

from ambient.approvals.audit import AuditLog
from ambient.approvals.drafts import DraftedAction
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import ApprovalStatus, Decision, ReflectionStatus
from ambient.core.errors import DecisionError, NotFoundError
from ambient.core.items import ItemState
from ambient.core.ledger import Ledger
from tests.approvals.conftest import AddItem, Queue, email_in_thread, reply
from tests.conftest import FrozenClock


def test_queued_drafts_wait_with_a_hash_of_what_is_shown(queue: ApprovalQueue, queue_for: Queue):
    (row,) = queue_for(reply())
    assert row.status == ApprovalStatus.PENDING
    assert row.shown_hash == queue.shown_hash(row) and len(row.shown_hash) == 64
    assert row.args["to"] == ["dana@example.com"]
    assert row.run_state == '{"state": "opaque"}'
    assert queue.list([ApprovalStatus.PENDING]) == [queue.get(row.id)]


def test_approve_schedules_execution_with_an_idempotency_key(
    queue: ApprovalQueue, queue_for: Queue
):
    (row,) = queue_for(reply())
    approved = queue.approve(row.id, shown_hash=row.shown_hash, actor="cli:me")
    assert approved.status == ApprovalStatus.APPROVED
    assert approved.decision == Decision.APPROVED and approved.decided_by == "cli:me"
    assert approved.idempotency_key and approved.reflection_status == ReflectionStatus.NONE


def test_a_second_decision_on_a_decided_row_is_refused(queue: ApprovalQueue, queue_for: Queue):
    (row,) = queue_for(reply())
    queue.approve(row.id, shown_hash=row.shown_hash, actor="tui")
    with pytest.raises(DecisionError, match="already approved by tui"):
        queue.reject(row.id, shown_hash=row.shown_hash, reason="no", actor="cli")


def test_a_decision_on_a_hash_that_does_not_match_is_refused(
    queue: ApprovalQueue, queue_for: Queue
):
    (row,) = queue_for(reply())
    with pytest.raises(DecisionError, match="changed since it was shown"):
        queue.approve(row.id, shown_hash="0" * 64, actor="me")
    assert queue.get(row.id).status == ApprovalStatus.PENDING


def test_unknown_rows_are_not_found(queue: ApprovalQueue):
    with pytest.raises(NotFoundError):
        queue.approve(999, shown_hash="x", actor="me")
    with pytest.raises(NotFoundError):
        queue.get(999)


def test_edit_approves_the_changed_arguments_and_records_the_diff(
    queue: ApprovalQueue, queue_for: Queue, engine
):
    (row,) = queue_for(reply())
    edited = queue.edit(
        row.id,
        shown_hash=row.shown_hash,
        actor="me",
        args={**row.args, "body": "Friday is full; Monday at noon?"},
    )
    assert edited.status == ApprovalStatus.APPROVED and edited.decision == Decision.EDITED
    assert edited.effective_args["body"] == "Friday is full; Monday at noon?"
    assert edited.args["body"] == row.args["body"]  # the draft is kept beside the edit
    assert edited.reflection_status == ReflectionStatus.PENDING
    entry = AuditLog(engine).entries(approval_id=row.id)[0]
    assert entry.event == "edited"
    assert entry.details["changes"] == {
        "body": {"draft": row.args["body"], "approved": "Friday is full; Monday at noon?"}
    }


def test_an_edit_that_does_not_validate_is_refused_and_changes_nothing(
    queue: ApprovalQueue, queue_for: Queue
):
    (row,) = queue_for(reply())
    with pytest.raises(DecisionError, match="to: not an email address: 'nope'"):
        queue.edit(row.id, shown_hash=row.shown_hash, actor="me", args={**row.args, "to": ["nope"]})
    with pytest.raises(DecisionError, match="bcc: unknown field"):
        queue.edit(
            row.id, shown_hash=row.shown_hash, actor="me", args={**row.args, "bcc": ["x@y.z"]}
        )
    assert queue.get(row.id).status == ApprovalStatus.PENDING


def test_a_recipient_the_human_types_in_is_theirs_not_outside_the_thread(
    queue: ApprovalQueue, queue_for: Queue
):
    (row,) = queue_for(reply())
    edited = queue.edit(
        row.id,
        shown_hash=row.shown_hash,
        actor="me",
        args={**row.args, "cc": ["boss@company.example"]},
    )
    assert edited.status == ApprovalStatus.APPROVED
    assert queue.human_recipients(edited) == frozenset({"boss@company.example"})


def test_feedback_waits_for_the_agent_to_revise_and_links_the_new_draft(
    queue: ApprovalQueue, queue_for: Queue
):
    (row,) = queue_for(reply())
    with pytest.raises(DecisionError, match="needs a message"):
        queue.feedback(row.id, shown_hash=row.shown_hash, message="  ", actor="me")
    queue.feedback(row.id, shown_hash=row.shown_hash, message="Say Monday instead", actor="me")
    waiting = queue.awaiting_revision()
    assert [r.id for r in waiting] == [row.id]
    assert waiting[0].decision_message == "Say Monday instead"
    assert waiting[0].reflection_status == ReflectionStatus.PENDING
    (revised,) = queue_for(reply(body="Monday at noon?"), item_id=row.item_id, parent_id=row.id)
    assert revised.parent_id == row.id and revised.status == ApprovalStatus.PENDING
    assert queue.awaiting_revision() == []
    queue.mark_revised(row.id, [revised.id])  # already revised in the same transaction: no-op
    with pytest.raises(DecisionError, match="already revised"):
        queue_for(reply(body="again"), item_id=row.item_id, parent_id=row.id)


def test_reject_and_ignore_are_final_and_only_reject_teaches_memory(
    queue: ApprovalQueue, queue_for: Queue
):
    first, second = queue_for(reply(), reply(body="other"))
    rejected = queue.reject(first.id, shown_hash=first.shown_hash, reason="not now", actor="me")
    ignored = queue.ignore(second.id, shown_hash=second.shown_hash, actor="me")
    assert (rejected.status, rejected.decision_message) == (ApprovalStatus.REJECTED, "not now")
    assert ignored.status == ApprovalStatus.IGNORED
    assert [r.id for r in queue.pending_reflections()] == [first.id]
    queue.mark_reflected(first.id)
    assert queue.pending_reflections() == []
    assert queue.get(first.id).reflection_status == ReflectionStatus.DONE


def test_undo_puts_a_decision_back_for_review_with_a_fresh_hash(
    queue: ApprovalQueue, queue_for: Queue
):
    (row,) = queue_for(reply())
    edited = queue.edit(
        row.id, shown_hash=row.shown_hash, actor="me", args={**row.args, "body": "x"}
    )
    undone = queue.undo(row.id, actor="me")
    assert undone.status == ApprovalStatus.PENDING and undone.decision is None
    assert undone.edited_args is None and undone.reflection_status == ReflectionStatus.NONE
    assert undone.shown_hash != row.shown_hash
    with pytest.raises(DecisionError, match="changed since it was shown"):
        queue.approve(row.id, shown_hash=edited.shown_hash, actor="me")
    assert queue.approve(row.id, shown_hash=undone.shown_hash, actor="me").status == "approved"


def test_undo_is_refused_once_the_outbox_took_the_action(queue: ApprovalQueue, queue_for: Queue):
    (row,) = queue_for(reply())
    with pytest.raises(DecisionError, match="nothing to undo"):
        queue.undo(row.id, actor="me")
    queue.approve(row.id, shown_hash=row.shown_hash, actor="me")
    from ambient.approvals.outbox import Outbox

    outbox = Outbox(
        queue.engine, queue.clock, queue.settings, None, queue.policy, {"reply_email": None}
    )  # type: ignore[arg-type, dict-item]
    assert [r.id for r in outbox.claim()] == [row.id]
    with pytest.raises(DecisionError, match="executing: nothing to undo"):
        queue.undo(row.id, actor="me")


def test_warnings_must_be_acknowledged(queue: ApprovalQueue, queue_for: Queue):
    draft = DraftedAction(
        "send_email",
        "c1",
        {"to": ["newperson@example.org"], "subject": "Hello", "body": "Intro"},
        "introduce",
    )
    (row,) = queue_for(draft)
    assert row.status == ApprovalStatus.PENDING
    assert row.warnings == ["send_outside_thread: not in the thread: newperson@example.org"]
    with pytest.raises(DecisionError, match="acknowledge the warnings first"):
        queue.approve(row.id, shown_hash=row.shown_hash, actor="me")
    approved = queue.approve(
        row.id, shown_hash=row.shown_hash, acknowledge_warnings=True, actor="me"
    )
    assert approved.warnings_acknowledged


def test_a_blocked_draft_cannot_be_approved_but_can_be_edited_into_shape(
    queue: ApprovalQueue, queue_for: Queue
):
    (row,) = queue_for(reply(to=["attacker@evil.example"], body="all the secrets"))
    assert row.status == ApprovalStatus.BLOCKED
    assert "reply_outside_thread" in (row.block_reason or "")
    with pytest.raises(DecisionError, match="blocked by policy"):
        queue.approve(row.id, shown_hash=row.shown_hash, actor="me")
    # the human deliberately typing an address in is their choice, not the model's
    fixed = queue.edit(
        row.id,
        shown_hash=row.shown_hash,
        actor="me",
        args={**row.args, "to": ["dana@example.com"], "body": "Sorry, no."},
    )
    assert fixed.status == ApprovalStatus.APPROVED and fixed.block_reason is None


def test_a_newer_message_in_the_thread_makes_the_row_stale_and_requeues_it(
    queue: ApprovalQueue, queue_for: Queue, add_item: AddItem
):
    (row,) = queue_for(reply())
    newer = add_item(email_in_thread("<lunch-3@example.com>", body="Actually, can we do Monday?"))
    with pytest.raises(
        DecisionError, match=f"stale: the thread got a newer message \\(item {newer}"
    ):
        queue.approve(row.id, shown_hash=row.shown_hash, actor="me")
    requeued = queue.get(row.id)
    assert requeued.status == ApprovalStatus.PENDING
    assert requeued.shown_hash != row.shown_hash and requeued.review_round == 1
    assert "newer message" in (requeued.stale_reason or "")
    assert f"+thread@{newer}" in requeued.item_version
    # looked at again: the decision on the fresh hash goes through
    assert queue.approve(row.id, shown_hash=requeued.shown_hash, actor="me").status == "approved"


def mail_without_message_id(sender: str, subject: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: me@example.com\r\nSubject: {subject}\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nHello there.\r\n"
    ).encode()


@pytest.mark.parametrize("subject", ["", "Invoice"])
def test_mail_without_message_id_from_another_sender_is_not_news(
    queue: ApprovalQueue, queue_for: Queue, add_item: AddItem, subject: str
):
    first = add_item(mail_without_message_id("Dana <dana@example.com>", subject))
    (row,) = queue_for(reply(subject=f"Re: {subject}"), item_id=first)
    add_item(mail_without_message_id("Lee <lee@example.org>", subject))
    assert queue.approve(row.id, shown_hash=row.shown_hash, actor="me").status == "approved"


def test_mail_without_message_id_from_the_same_sender_and_subject_is_one_thread(
    queue: ApprovalQueue, queue_for: Queue, add_item: AddItem
):
    first = add_item(mail_without_message_id("Dana <dana@example.com>", "Invoice"))
    (row,) = queue_for(reply(subject="Re: Invoice"), item_id=first)
    newer = add_item(mail_without_message_id("dana@example.com", "Re: invoice"))
    with pytest.raises(
        DecisionError, match=f"stale: the thread got a newer message \\(item {newer}"
    ):
        queue.approve(row.id, shown_hash=row.shown_hash, actor="me")


def test_a_second_delivery_or_an_older_message_is_not_news(
    queue: ApprovalQueue, queue_for: Queue, add_item: AddItem
):
    (row,) = queue_for(reply())
    add_item(email_in_thread("<lunch-0@example.com>", date="Sun, 22 Nov 2026 09:00:00 +0000"))
    assert queue.approve(row.id, shown_hash=row.shown_hash, actor="me").status == "approved"


def test_an_expired_row_is_refused_and_requeued(
    queue: ApprovalQueue, queue_for: Queue, clock: FrozenClock
):
    (row,) = queue_for(reply())
    clock.advance(hours=queue.settings.approvals.expire_hours + 1)
    with pytest.raises(DecisionError, match="expired: waiting 73 h"):
        queue.approve(row.id, shown_hash=row.shown_hash, actor="me")
    requeued = queue.get(row.id)
    assert requeued.queued_at == clock.now() and requeued.shown_hash != row.shown_hash
    assert queue.approve(row.id, shown_hash=requeued.shown_hash, actor="me").status == "approved"


def test_an_expiry_under_an_hour_reads_in_minutes(
    queue: ApprovalQueue, queue_for: Queue, clock: FrozenClock
):
    queue.settings.approvals.expire_hours = 0.5
    (first, second) = queue_for(reply(), reply(body="two"))
    clock.advance(minutes=40)
    with pytest.raises(DecisionError, match=r"expired: waiting 40 min \(approvals.expire_hours"):
        queue.approve(first.id, shown_hash=first.shown_hash, actor="me")
    clock.advance(hours=2, minutes=5)
    with pytest.raises(DecisionError, match="expired: waiting 2 h 45 min"):
        queue.approve(second.id, shown_hash=second.shown_hash, actor="me")


def test_bulk_decisions_apply_to_each_row_and_report_refusals(
    queue: ApprovalQueue, queue_for: Queue
):
    a, b, c = queue_for(reply(), reply(body="two"), reply(body="three"))
    queue.ignore(c.id, shown_hash=c.shown_hash, actor="me")
    outcomes = queue.approve_many(
        [(a.id, a.shown_hash), (b.id, "stale-hash"), (c.id, c.shown_hash), (404, "x")], actor="me"
    )
    assert [(o.approval_id, o.ok) for o in outcomes] == [
        (a.id, True),
        (b.id, False),
        (c.id, False),
        (404, False),
    ]
    assert "hash mismatch" in (outcomes[1].reason or "")
    assert "already ignored" in (outcomes[2].reason or "")
    assert "does not exist" in (outcomes[3].reason or "")
    assert queue.get(a.id).status == ApprovalStatus.APPROVED
    rejected = queue.reject_many([(b.id, b.shown_hash)], reason="bulk", actor="me")
    assert rejected[0].ok and queue.get(b.id).status == ApprovalStatus.REJECTED


def test_the_item_is_done_once_every_approval_is_final(
    queue: ApprovalQueue, queue_for: Queue, ledger: Ledger
):
    a, b = queue_for(reply(), reply(body="two"))
    queue.reject(a.id, shown_hash=a.shown_hash, reason="no", actor="me")
    assert ledger.get(a.item_id).state == ItemState.AWAITING_APPROVAL
    queue.ignore(b.id, shown_hash=b.shown_hash, actor="me")
    assert ledger.get(a.item_id).state == ItemState.DONE
    queue.undo(b.id, actor="me")
    assert ledger.get(a.item_id).state == ItemState.AWAITING_APPROVAL


def test_feedback_revised_without_new_drafts_lets_the_item_finish(
    queue: ApprovalQueue, queue_for: Queue, ledger: Ledger
):
    (row,) = queue_for(reply())
    queue.feedback(row.id, shown_hash=row.shown_hash, message="never mind", actor="me")
    assert ledger.get(row.item_id).state == ItemState.AWAITING_APPROVAL
    queue.mark_revised(row.id, [])
    assert ledger.get(row.item_id).state == ItemState.DONE


def test_every_decision_is_in_the_audit_chain(queue: ApprovalQueue, queue_for: Queue, engine):
    a, b = queue_for(reply(), reply(body="two"))
    queue.approve(a.id, shown_hash=a.shown_hash, actor="me")
    queue.feedback(b.id, shown_hash=b.shown_hash, message="shorter", actor="tui:me")
    log = AuditLog(engine)
    events = [(e.event, e.approval_id, e.actor) for e in log.entries(newest_first=False)]
    assert events == [
        ("queued", a.id, "agent"),
        ("queued", b.id, "agent"),
        ("approved", a.id, "me"),
        ("feedback", b.id, "tui:me"),
    ]
    assert log.verify_chain().ok


def test_a_memory_proposal_does_not_reopen_its_finished_item(
    queue: ApprovalQueue, queue_for: Queue, ledger: Ledger
):
    (row,) = queue_for(reply())
    queue.reject(row.id, shown_hash=row.shown_hash, reason="too formal", actor="me")
    assert ledger.get(row.item_id).state == ItemState.DONE
    args = {
        "file": "style.md",
        "diff": "-a\n+b\n",
        "base_sha256": "0" * 64,
        "reason": "less formal",
    }
    (proposal,) = queue_for(
        DraftedAction("memory_update", "m", args, "learned"), item_id=row.item_id
    )
    assert proposal.status == ApprovalStatus.PENDING
    assert ledger.get(row.item_id).state == ItemState.DONE
