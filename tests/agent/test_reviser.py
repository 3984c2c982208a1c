"""The feedback loop: paused runs resumed with the human's feedback, new drafts queued."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pydantic_ai.messages import ModelResponse
from pydantic_ai.models.function import FunctionModel

from ambient.agent.feedback import DECIDED_SEPARATELY
from ambient.agent.processor import AgentProcessor
from ambient.agent.reviser import FeedbackReviser
from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.tables import ApprovalStatus
from ambient.core.items import ItemState
from tests.agent.conftest import claim_one, meeting_email
from tests.agent.scripted import Script, call, respond, tool_returns, triage
from tests.conftest import child_environment

ROOT = Path(__file__).resolve().parents[2]

FIRST_DRAFTS = respond(
    call("reply_email", body="Friday at 10 works.", rationale="meeting request"),
    call("write_note", path="meetings/dana.md", content="Friday 10:00", rationale="remember it"),
)


async def drafted(make_agent, queue, ledger, script: Script):
    claimed = claim_one(ledger, meeting_email())
    outcome = await AgentProcessor(make_agent(script.model), queue).process(claimed)
    ledger.complete(claimed.id, claimed.lease_owner, outcome.state, outcome.triage)
    reply, note = queue.list(item_id=claimed.id)
    return claimed, reply, note


def reviser_for(make_agent, queue, ledger, clock, settings, model) -> FeedbackReviser:
    return FeedbackReviser(make_agent(model), queue, ledger, clock, settings.worker)


def give_feedback(queue, row, message: str) -> None:
    queue.feedback(row.id, shown_hash=queue.shown_hash(row), message=message, actor="robin")


async def test_feedback_produces_a_revised_draft_with_its_parent(
    make_agent, queue, ledger, clock, settings
) -> None:
    def revise(messages, info):
        by_tool = {part.tool_name: str(part.content) for part in tool_returns(messages)}
        assert "feedback: Say 11, not 10" in by_tool["reply_email"]
        assert by_tool["write_note"].startswith("approved by the user")
        return respond(call("reply_email", body="Friday at 11 works.", rationale="moved"))(
            messages, info
        )

    script = Script(FIRST_DRAFTS, revise)
    claimed, reply, note = await drafted(make_agent, queue, ledger, script)
    queue.approve(note.id, shown_hash=queue.shown_hash(note), actor="robin")
    give_feedback(queue, reply, "Say 11, not 10")
    reviser = reviser_for(make_agent, queue, ledger, clock, settings, script.model)
    assert await reviser.tick() == 1
    rows = {row.id: row for row in queue.list(item_id=claimed.id)}
    (new,) = [row for row in rows.values() if row.parent_id == reply.id]
    assert new.status == ApprovalStatus.PENDING and new.kind == "reply_email"
    assert new.args["body"] == "Friday at 11 works." and new.rationale == "moved"
    assert new.run_state and new.run_state != reply.run_state
    assert rows[reply.id].revised_at is not None
    assert ledger.get(claimed.id).state == ItemState.AWAITING_APPROVAL
    assert await reviser.tick() == 0 and len(script.requests) == 2


async def test_undecided_siblings_are_answered_decided_separately(
    make_agent, queue, ledger, clock, settings
) -> None:
    def revise(messages, info):
        by_tool = {part.tool_name: str(part.content) for part in tool_returns(messages)}
        assert by_tool["write_note"] == DECIDED_SEPARATELY
        return respond(triage("notify", "the user will handle it"))(messages, info)

    script = Script(FIRST_DRAFTS, revise)
    claimed, reply, note = await drafted(make_agent, queue, ledger, script)
    give_feedback(queue, reply, "Don't reply at all")
    reviser = reviser_for(make_agent, queue, ledger, clock, settings, script.model)
    assert await reviser.tick() == 1
    assert queue.get(reply.id).revised_at is not None
    assert len(queue.list(item_id=claimed.id)) == 2  # no new draft
    assert queue.get(note.id).status == ApprovalStatus.PENDING


async def test_two_feedbacks_on_one_run_are_revised_together(
    make_agent, queue, ledger, clock, settings
) -> None:
    def revise(messages, info):
        contents = [str(part.content) for part in tool_returns(messages)]
        assert any("feedback: shorter" in c for c in contents)
        assert any("feedback: path notes/dana.md" in c for c in contents)
        return respond(
            call("reply_email", body="Fri 10 ok.", rationale="shorter"),
            call("write_note", path="notes/dana.md", content="Fri 10", rationale="moved"),
        )(messages, info)

    script = Script(FIRST_DRAFTS, revise)
    claimed, reply, note = await drafted(make_agent, queue, ledger, script)
    give_feedback(queue, reply, "shorter")
    give_feedback(queue, note, "path notes/dana.md")
    reviser = reviser_for(make_agent, queue, ledger, clock, settings, script.model)
    assert await reviser.tick() == 2
    children = {row.kind: row.parent_id for row in queue.list(item_id=claimed.id) if row.parent_id}
    assert children == {"reply_email": reply.id, "write_note": note.id}
    assert len(script.requests) == 2


async def test_unreadable_run_state_is_closed_with_a_logged_error(
    make_agent, queue, ledger, clock, settings, engine, caplog
) -> None:
    from ambient.approvals.tables import Approval
    from ambient.core.db import write_session

    claimed, reply, _note = await drafted(make_agent, queue, ledger, Script(FIRST_DRAFTS))
    give_feedback(queue, reply, "again")
    with write_session(engine) as session:
        row = session.get(Approval, reply.id)
        row.run_state = "{broken"
        session.add(row)
    reviser = reviser_for(make_agent, queue, ledger, clock, settings, Script().model)
    await reviser.tick()
    assert queue.get(reply.id).revised_at is not None
    assert "cannot be revised" in caplog.text and "not JSON" in caplog.text


async def test_failing_revisions_back_off_then_give_up(
    make_agent, queue, ledger, clock, settings
) -> None:
    settings.worker.max_attempts = 2
    settings.worker.backoff_seconds = 30
    calls = []

    def broken(messages, info) -> ModelResponse:
        calls.append(1)
        raise RuntimeError("provider down")

    claimed, reply, _note = await drafted(make_agent, queue, ledger, Script(FIRST_DRAFTS))
    give_feedback(queue, reply, "again")
    reviser = reviser_for(make_agent, queue, ledger, clock, settings, FunctionModel(broken))
    assert await reviser.tick() == 0 and len(calls) == 1
    assert await reviser.tick() == 0 and len(calls) == 1  # backing off
    clock.advance(seconds=31)
    await reviser.tick()
    assert len(calls) == 2 and queue.get(reply.id).revised_at is not None  # gave up


async def test_a_fresh_process_resumes_the_run_from_the_database(
    make_agent, queue, ledger, settings, ambient_home
) -> None:
    claimed, reply, note = await drafted(make_agent, queue, ledger, Script(FIRST_DRAFTS))
    edited = {**note.args, "path": "meetings/edited.md"}
    queue.edit(note.id, shown_hash=queue.shown_hash(note), args=edited, actor="robin")
    give_feedback(queue, reply, "Make it 11")
    env = child_environment(AMBIENT_HOME=str(ambient_home))
    result = subprocess.run(
        [sys.executable, "-m", "tests.agent.fresh_resume"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["revised"] == 1
    by_tool = {entry["tool"]: entry["content"] for entry in report["seen"]}
    assert "feedback: Make it 11" in by_tool["reply_email"]
    assert "note 'meetings/edited.md'" in by_tool["write_note"]  # the human's edit, approved
    (new,) = [row for row in queue.list(item_id=claimed.id) if row.parent_id == reply.id]
    assert new.args["body"] == "Revised: Make it 11" and new.status == ApprovalStatus.PENDING


async def test_memory_proposals_are_left_to_the_memory_reflector(
    make_agent, queue, ledger, clock, settings
) -> None:
    claimed, _reply, _note = await drafted(make_agent, queue, ledger, Script(FIRST_DRAFTS))
    args = {"file": "profile.md", "diff": "+x", "base_sha256": "0" * 64, "reason": "learned"}
    (proposal,) = queue.queue_drafts(
        context=ActionContext(claimed.id, frozenset(), "v"),
        trace_id=claimed.trace_id,
        run_state=None,
        drafts=[DraftedAction("memory_update", "", args, "learned")],
    )
    give_feedback(queue, proposal, "not like that")
    reviser = reviser_for(make_agent, queue, ledger, clock, settings, Script().model)
    assert await reviser.tick() == 0
    assert queue.get(proposal.id).revised_at is None


async def test_the_test_model_goes_round_the_feedback_loop(runtime, queue, ledger, memory) -> None:
    # AMBIENT_MODEL=test, wired as the daemon wires it: queue -> feedback -> revised draft
    assert runtime.model.model_name == "test"
    claimed = claim_one(ledger, meeting_email())
    outcome = await runtime.processor.process(claimed)
    ledger.complete(claimed.id, claimed.lease_owner, outcome.state, outcome.triage)
    assert outcome.state == ItemState.AWAITING_APPROVAL
    (reply,) = queue.list(item_id=claimed.id)  # one reply, nothing else
    give_feedback(queue, reply, "Shorter, please")
    reviser = runtime.reviser
    assert await reviser.tick() == 1
    (revised,) = [row for row in queue.list(item_id=claimed.id) if row.parent_id == reply.id]
    assert (revised.kind, revised.status) == ("reply_email", ApprovalStatus.PENDING)
    assert len(revised.args["body"]) < len(reply.args["body"])
    assert revised.rationale == 'Revised after your feedback: "Shorter, please".'
    assert queue.get(reply.id).revised_at is not None
    assert ledger.get(claimed.id).state == ItemState.AWAITING_APPROVAL
