"""Deferral and resume with Pydantic AI's deferred-tool results, through serialized state."""

from __future__ import annotations

import pytest
from pydantic_ai import ToolApproved, ToolDenied

from ambient.agent.state import RunState, RunStateError
from ambient.agent.tools import APPROVED_RESULT
from tests.agent.conftest import item_from, meeting_email
from tests.agent.scripted import Script, call, respond, tool_returns, triage

REPLY = {"body": "Friday at 10 works.", "rationale": "meeting request"}


async def paused(make_agent, script: Script):
    agent = make_agent(script.model)
    item = item_from(meeting_email())
    outcome = await agent.triage(item)
    assert outcome.run_state is not None
    # what the queue stores, read back as a later process would
    state = RunState.loads(outcome.run_state.dumps())
    return agent, item, outcome, state


async def test_approved_call_returns_without_side_effects_and_the_run_finishes(make_agent) -> None:
    script = Script(
        respond(call("reply_email", **REPLY)), respond(triage("act", "done", "replied"))
    )
    agent, item, outcome, state = await paused(make_agent, script)
    (call_id,) = state.tool_call_ids
    results = state.requests.build_results(approvals={call_id: ToolApproved()})
    resumed = await agent.resume(item, state, results)
    assert resumed.drafts == [] and resumed.triage.summary == "replied"
    (returned,) = tool_returns(script.requests[1])
    assert returned.tool_call_id == call_id
    assert returned.content.startswith(APPROVED_RESULT)
    assert "reply to dana@example.com" in returned.content


async def test_approval_with_changed_arguments_uses_the_edit(make_agent) -> None:
    script = Script(respond(call("reply_email", **REPLY)), respond(triage("act")))
    agent, item, outcome, state = await paused(make_agent, script)
    (call_id,) = state.tool_call_ids
    edit = {
        **outcome.drafts[0].args,
        "to": ["lee@example.com"],
        "subject": "Friday",
        "rationale": "meeting request",
    }
    results = state.requests.build_results(approvals={call_id: ToolApproved(override_args=edit)})
    await agent.resume(item, state, results)
    (returned,) = tool_returns(script.requests[1])
    assert "reply to lee@example.com, subject 'Friday'" in returned.content


async def test_denial_with_a_message_leads_to_a_revised_draft(make_agent) -> None:
    def revise(messages, info):
        (denied,) = tool_returns(messages)
        assert "Make it 11 instead" in denied.content
        return respond(call("reply_email", body="Friday at 11 works.", rationale="moved to 11"))(
            messages, info
        )

    script = Script(respond(call("reply_email", **REPLY)), revise)
    agent, item, outcome, state = await paused(make_agent, script)
    (call_id,) = state.tool_call_ids
    results = state.requests.build_results(approvals={call_id: ToolDenied("Make it 11 instead")})
    revised = await agent.resume(item, state, results)
    (draft,) = revised.drafts
    assert draft.args["body"] == "Friday at 11 works." and draft.rationale == "moved to 11"
    assert draft.tool_call_id != call_id
    assert revised.run_state is not None and len(revised.run_state.messages) > len(state.messages)


def test_run_state_round_trips_and_refuses_garbage() -> None:
    with pytest.raises(RunStateError, match="not JSON"):
        RunState.loads("{nope")
    with pytest.raises(RunStateError, match="format"):
        RunState.loads('{"format": "other/9"}')
    with pytest.raises(RunStateError, match="does not validate"):
        RunState.loads(
            '{"format": "ambient.run_state/1", "messages": [{"kind": 1}], "requests": {}}'
        )


async def test_serialized_state_is_plain_json_with_history_and_requests(make_agent) -> None:
    script = Script(respond(call("reply_email", **REPLY)))
    _agent, _item, outcome, state = await paused(make_agent, script)
    assert outcome.run_state is not None
    assert state.dumps() == outcome.run_state.dumps()
    assert state.approval_call(state.tool_call_ids[0]).tool_name == "reply_email"
    assert '"format":"ambient.run_state/1"' in state.dumps()
