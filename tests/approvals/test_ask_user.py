"""The agent's question in the queue: answered (never approved), bound to what was shown,
stale and expired as drafts are, audited, traced, and offered to memory reflection."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from ambient.approvals.drafts import DraftedAction
from ambient.approvals.events import TracedApprovals
from ambient.approvals.kinds import KINDS
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus, Decision, ReflectionStatus
from ambient.core.config import Secrets, Settings
from ambient.core.diffs import changed_lines
from ambient.core.errors import DecisionError
from ambient.core.items import ItemState
from ambient.core.ledger import Ledger
from ambient.memory.store import MemoryStore
from ambient.runtime import Runtime
from ambient.tracing.assembly import Tracing
from tests.approvals.conftest import AddItem, Queue, context_for, email_in_thread, reply
from tests.approvals.test_events import tracing  # noqa: F401 - the local trace log
from tests.conftest import CommandLine, FrozenClock

QUESTION = "Who is our contact at Northwind?"


def question(**overrides: Any) -> DraftedAction:
    args: dict[str, Any] = {"question": QUESTION, "choices": ["Julia Berg", "Tom Reyes"]}
    args.update(overrides)
    return DraftedAction("ask_user", "ask-1", args, "the memory names no contact at Northwind")


def answer(queue: ApprovalQueue, row: Approval, **how: Any) -> Approval:
    return queue.answer(row.id, shown_hash=queue.shown_hash(row), actor="robin", **how)


def test_a_question_waits_among_what_there_is_to_decide(queue: ApprovalQueue, queue_for: Queue):
    (row,) = queue_for(question())
    assert row.status == ApprovalStatus.PENDING and queue.counts()["pending"] == 1
    kind = KINDS.of(row.kind)
    assert kind.label == "ask" and kind.summary(row.args) == QUESTION
    assert kind.headline(row.args) == f"ask: {QUESTION}"
    # the question is shown as the agent's words, the choices by the numbers an answer takes
    assert kind.shown_headers(row.args) == [("Agent asks", QUESTION)]
    assert kind.shown_body(row.args) == (
        "Choices (or answer in your own words):\n  1. Julia Berg\n  2. Tom Reyes\n"
    )
    assert kind.shown_body({"question": QUESTION}) is None  # a free answer


def test_an_answer_goes_back_to_the_agent_and_to_memory(
    queue: ApprovalQueue, queue_for: Queue, ledger: Ledger, engine: Engine
):
    (row,) = queue_for(question())
    answered = answer(queue, row, text="  Julia Berg, since May  ")

    assert answered.status == ApprovalStatus.FEEDBACK and answered.decision == Decision.ANSWERED
    assert answered.decision_message == "Julia Berg, since May" and answered.decided_by == "robin"
    assert answered.reflection_status == ReflectionStatus.PENDING
    assert [r.id for r in queue.awaiting_revision()] == [row.id]  # the agent goes on with it
    assert [r.id for r in queue.pending_reflections()] == [row.id]  # memory may learn from it
    assert answered.idempotency_key is None  # nothing is ever run for a question
    # the item waits until the agent has gone on with the answer
    assert ledger.get(row.item_id).state == ItemState.AWAITING_APPROVAL
    queue.mark_revised(row.id, [])
    assert ledger.get(row.item_id).state == ItemState.DONE

    from ambient.approvals.audit import AuditLog

    entries = AuditLog(engine).entries(approval_id=row.id)
    answered_entry = next(entry for entry in entries if entry.event == "answered")
    assert answered_entry.actor == "robin"
    assert answered_entry.details["message"] == "Julia Berg, since May"


def test_a_choice_answers_with_its_text(queue: ApprovalQueue, queue_for: Queue):
    (row,) = queue_for(question())
    assert answer(queue, row, choice=2).decision_message == "Tom Reyes"


@pytest.mark.parametrize(
    ("how", "refusal"),
    [
        ({"choice": 3}, "no choice 3 \\(the choices are 1 to 2\\)"),
        ({"choice": 0}, "no choice 0"),
        ({"text": "Julia", "choice": 1}, "as text or as a choice, not both"),
        ({"text": "   "}, "an answer needs words"),
        ({}, "an answer needs words"),
    ],
)
def test_an_answer_that_is_none_is_refused(
    queue: ApprovalQueue, queue_for: Queue, how: dict[str, Any], refusal: str
):
    (row,) = queue_for(question())
    with pytest.raises(DecisionError, match=refusal):
        answer(queue, row, **how)
    assert queue.get(row.id).status == ApprovalStatus.PENDING


def test_a_question_without_choices_takes_no_choice(queue: ApprovalQueue, queue_for: Queue):
    (row,) = queue_for(question(choices=[]))
    with pytest.raises(DecisionError, match="the choices are none: answer in words"):
        answer(queue, row, choice=1)


def test_a_question_is_answered_never_approved_edited_or_sent_back(
    queue: ApprovalQueue, queue_for: Queue
):
    (row,) = queue_for(question())
    shown = queue.shown_hash(row)
    hint = f"is the agent's question: answer it \\(ambient approvals answer {row.id} TEXT\\)"
    with pytest.raises(DecisionError, match=hint):
        queue.approve(row.id, shown_hash=shown, actor="robin")
    with pytest.raises(DecisionError, match=hint):
        queue.edit(row.id, shown_hash=shown, args={"question": "Anything?"}, actor="robin")
    with pytest.raises(DecisionError, match=hint):
        queue.feedback(row.id, shown_hash=shown, message="Julia", actor="robin")
    assert queue.get(row.id).status == ApprovalStatus.PENDING
    # rejecting or ignoring a question is fine: the agent simply does not get an answer
    assert queue.ignore(row.id, shown_hash=shown, actor="robin").status == ApprovalStatus.IGNORED


def test_only_a_question_can_be_answered(queue: ApprovalQueue, queue_for: Queue):
    (row,) = queue_for(reply())
    with pytest.raises(DecisionError, match="is a reply_email, not a question"):
        answer(queue, row, text="yes")


def test_answering_an_expired_question_is_refused_and_requeued(
    queue: ApprovalQueue, queue_for: Queue, clock: FrozenClock
):
    (row,) = queue_for(question())
    clock.advance(hours=queue.settings.approvals.expire_hours + 1)
    with pytest.raises(DecisionError, match="expired: waiting 73 h"):
        answer(queue, row, text="Julia Berg")
    requeued = queue.get(row.id)
    assert requeued.status == ApprovalStatus.PENDING and requeued.review_round == 1
    assert requeued.shown_hash != row.shown_hash and requeued.queued_at == clock.now()
    assert answer(queue, requeued, text="Julia Berg").decision == Decision.ANSWERED


def test_a_question_on_a_thread_with_a_newer_message_is_requeued_as_stale(
    queue: ApprovalQueue, queue_for: Queue, add_item: AddItem
):
    (row,) = queue_for(question())
    newer = add_item(email_in_thread("<lunch-3@example.com>", body="Julia is on leave."))
    stale = f"stale: the thread got a newer message \\(item {newer}"
    with pytest.raises(DecisionError, match=stale):
        answer(queue, row, text="Julia Berg")
    requeued = queue.get(row.id)
    assert requeued.status == ApprovalStatus.PENDING and "newer message" in (
        requeued.stale_reason or ""
    )
    assert answer(queue, requeued, text="Tom Reyes").decision_message == "Tom Reyes"


def test_an_answer_binds_to_the_question_as_shown(queue: ApprovalQueue, queue_for: Queue):
    (row,) = queue_for(question())
    with pytest.raises(DecisionError, match="changed since it was shown"):
        queue.answer(row.id, shown_hash="f" * 64, text="Julia Berg", actor="robin")


def test_an_answer_can_be_undone_until_the_agent_goes_on(queue: ApprovalQueue, queue_for: Queue):
    (row,) = queue_for(question())
    answer(queue, row, text="Julia Berg")
    undone = queue.undo(row.id, "robin")
    assert undone.status == ApprovalStatus.PENDING and undone.decision_message is None
    assert undone.reflection_status == ReflectionStatus.NONE
    answer(queue, undone, text="Tom Reyes")
    queue.mark_revised(row.id, [])
    with pytest.raises(DecisionError, match="the agent already revised it"):
        queue.undo(row.id, "robin")


def test_the_answer_is_a_decision_on_the_items_trace(
    tracing: Tracing,  # noqa: F811 - the fixture imported above
    engine: Engine,
    clock: FrozenClock,
    settings: Settings,
    ledger: Ledger,
    add_item: AddItem,
):
    traced = ApprovalQueue(
        engine, clock, settings, PolicyGate.from_settings(settings), TracedApprovals(tracing.tracer)
    )
    item_id = add_item()
    (row,) = traced.queue_drafts(
        context=context_for(ledger, item_id),
        trace_id=ledger.get(item_id).trace_id or "",
        run_state=None,
        drafts=[question()],
    )
    answer(traced, row, choice=1)
    trace = tracing.trace_log.events(trace_id=row.trace_id)
    (score,) = [event for event in trace if event.kind == "score"]
    assert score.detail["decision"] == "answered"
    (step,) = [event for event in trace if event.name == "human decision"]
    assert step.detail["output"] == {"decision": "answered", "comment": "Julia Berg"}


async def test_the_demo_reflection_keeps_the_answer_as_a_memory_bullet(
    settings: Settings,
    secrets: Secrets,
    engine: Engine,
    clock: FrozenClock,
    queue: ApprovalQueue,
    queue_for: Queue,
):
    store = MemoryStore(settings.memory_dir)
    store.seed()
    (row,) = queue_for(question())
    answer(queue, row, text="Julia Berg")

    reflector = Runtime(settings, secrets, clock, engine=engine).reflector  # as the daemon has it
    assert await reflector.tick() == 1

    (update,) = [r for r in queue.list() if r.kind == "memory_update"]
    assert update.args["file"] == "contacts.md" and update.tool_call_id == f"reflection-{row.id}"
    bullet = '- Asked "Who is our contact at Northwind?": "Julia Berg".'
    assert changed_lines(update.args["diff"]) == [("+", bullet)]
    assert queue.get(row.id).reflection_status == ReflectionStatus.DONE


# ---- the command line ----------------------------------------------------------------------
def test_the_cli_answers_in_words_showing_the_agents_question(cli: CommandLine, queue_for: Queue):
    (row,) = queue_for(question())
    code, out = cli.run("approvals", "answer", str(row.id), "Julia Berg")
    assert code == 0, out
    assert f"Agent asks: {QUESTION}" in out and "  2. Tom Reyes" in out
    assert f"answered approval {row.id}: the agent goes on with your answer" in out


def test_the_cli_answers_by_choice_with_json(cli: CommandLine, queue_for: Queue):
    (row,) = queue_for(question())
    code, outcome = cli.json("approvals", "answer", str(row.id), "--choice", "2")
    assert code == 0 and outcome[0]["ok"]
    approval = outcome[0]["approval"]
    assert approval["decision"] == "answered" and approval["decision_message"] == "Tom Reyes"
    assert approval["status"] == "feedback"


def test_the_cli_refuses_a_question_it_cannot_answer(cli: CommandLine, queue_for: Queue):
    (row,) = queue_for(question())
    code, out = cli.run("approvals", "answer", str(row.id))
    assert code == DecisionError.exit_code and "give your answer as TEXT" in out
    code, out = cli.run("approvals", "answer", str(row.id), "--choice", "7")
    assert code == DecisionError.exit_code and "no choice 7" in out
    code, out = cli.run("approvals", "approve", str(row.id))
    assert code == DecisionError.exit_code and "answer it (ambient approvals answer" in out
