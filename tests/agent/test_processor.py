"""The worker and the agent processor: from the ledger to the approvals queue."""

from __future__ import annotations

import json

import pytest

from ambient.agent.processor import AgentProcessor
from ambient.agent.state import RunState
from ambient.approvals.tables import ApprovalStatus
from ambient.core.items import InboundItem, ItemState
from ambient.core.processing import PermanentItemError
from ambient.daemon.worker import Worker
from tests.agent.conftest import claim_one, meeting_email
from tests.agent.scripted import Script, call, respond, triage


def processor_for(make_agent, queue, script: Script) -> AgentProcessor:
    return AgentProcessor(make_agent(script.model), queue)


async def test_worker_takes_an_item_to_awaiting_approval_with_queued_drafts(
    make_agent, queue, ledger, settings
) -> None:
    script = Script(
        respond(
            call("reply_email", body="Friday at 10 works.", rationale="meeting request"),
            call(
                "send_email",
                to=["ceo@elsewhere.example"],
                subject="FYI",
                body="b",
                rationale="keep the boss informed",
            ),
        )
    )
    item_id = ledger.ingest(InboundItem("inbox", "k1", meeting_email())).item_id
    worker = Worker(ledger, processor_for(make_agent, queue, script), settings.worker, "w1")
    assert await worker.run_until_idle() == 1
    item = ledger.get(item_id)
    assert item.state == ItemState.AWAITING_APPROVAL
    assert json.loads(item.triage_json or "{}")["decision"] == "act"
    reply, send = queue.list(item_id=item_id)
    assert (reply.kind, reply.status) == ("reply_email", ApprovalStatus.PENDING)
    assert reply.args["to"] == ["dana@example.com"] and reply.rationale == "meeting request"
    assert reply.trace_id == item.trace_id and reply.item_version.startswith(f"{item_id}:")
    assert reply.thread_addresses == frozenset({"dana@example.com", "me@example.com"})
    # the send to someone outside the thread is flagged by the policy gate for the human
    assert send.status == ApprovalStatus.PENDING and "send_outside_thread" in send.warnings[0]
    state = RunState.loads(reply.run_state or "")
    assert state.tool_call_ids == [reply.tool_call_id, send.tool_call_id]
    assert reply.run_state == send.run_state


async def test_item_without_actions_is_done_with_its_triage(
    make_agent, queue, ledger, settings
) -> None:
    script = Script(respond(triage("ignore", "newsletter", "weekly digest", "low")))
    item_id = ledger.ingest(InboundItem("inbox", "k1", meeting_email())).item_id
    worker = Worker(ledger, processor_for(make_agent, queue, script), settings.worker, "w1")
    await worker.run_until_idle()
    item = ledger.get(item_id)
    assert item.state == ItemState.DONE
    assert json.loads(item.triage_json or "{}") == {
        "decision": "ignore",
        "reason": "newsletter",
        "priority": "low",
        "summary": "weekly digest",
    }
    assert queue.list(item_id=item_id) == []


async def test_an_item_is_never_drafted_twice_after_a_lost_lease(make_agent, queue, ledger) -> None:
    script = Script(respond(call("reply_email", body="Yes.", rationale="meeting request")))
    processor = processor_for(make_agent, queue, script)
    claimed = claim_one(ledger, meeting_email())
    first = await processor.process(claimed)
    again = await processor.process(claimed)  # e.g. reclaimed after a crash before completing
    assert first.state == again.state == ItemState.AWAITING_APPROVAL
    assert again.triage["reason"] == "meeting request"
    assert len(queue.list(item_id=claimed.id)) == 1 and len(script.requests) == 1


async def test_a_non_email_item_with_undecodable_bytes_is_permanent(
    make_agent, queue, ledger
) -> None:
    processor = processor_for(make_agent, queue, Script())
    claimed = claim_one(ledger, meeting_email())
    broken = type(claimed)(**{**claimed.__dict__, "raw": b"\x00\x01 not mail"})
    with pytest.raises(PermanentItemError, match="not an email"):
        await processor.process(broken)


async def test_the_runtimes_processor_runs_the_configured_model(runtime, ledger, memory) -> None:
    processor = runtime.processor  # AMBIENT_MODEL=test
    claimed = claim_one(ledger, meeting_email())
    outcome = await processor.process(claimed)
    assert outcome.state in (ItemState.AWAITING_APPROVAL, ItemState.DONE)
    assert set(outcome.triage) == {"decision", "reason", "priority", "summary"}


async def test_the_agent_run_and_its_drafts_are_steps_of_the_item_trace(
    make_agent, queue, ledger, settings, secrets, engine, clock
) -> None:
    from ambient.tracing.assembly import open_tracing

    tracing = open_tracing(settings, secrets, engine, clock)  # no Langfuse keys: local log only
    script = Script(respond(call("reply_email", body="Yes.", rationale="meeting request")))
    processor = AgentProcessor(make_agent(script.model), queue, tracing.tracer)
    claimed = claim_one(ledger, meeting_email())
    await processor.process(claimed)
    events = {event.name: event for event in tracing.trace_log.events(trace_id=claimed.trace_id)}
    assert events["agent.triage"].detail["output"]["state"] == "awaiting_approval"
    (draft,) = events["agent.drafts"].detail["output"]
    assert draft["kind"] == "reply_email" and draft["status"] == "pending"
    tracing.close()
