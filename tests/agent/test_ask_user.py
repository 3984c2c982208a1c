"""The agent asks the user instead of guessing, and drafts with the answer when it comes back."""

from __future__ import annotations

from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart

from ambient.agent.feedback import UNANSWERED
from ambient.agent.processor import AgentProcessor
from ambient.agent.prompt import instructions
from ambient.agent.reviser import FeedbackReviser
from ambient.agent.state import RunState
from ambient.approvals.tables import ApprovalStatus, Decision, ReflectionStatus
from ambient.core.items import ItemState
from tests.agent.conftest import claim_one, item_from, meeting_email
from tests.agent.scripted import Script, call, respond, tool_returns, triage, user_prompt

QUESTION = "Who is our contact at Northwind?"
ASK = respond(
    call(
        "ask_user",
        question=QUESTION,
        choices=["Julia Berg", "Tom Reyes"],
        rationale="the memory names no contact at Northwind",
    )
)
NORTHWIND = meeting_email(
    subject="Northwind delivery",
    body="Hi Robin, could you loop in your contact at Northwind about the delivery?\nDana",
)


def draft_with_the_answer(messages, info) -> ModelResponse:
    """The model's second turn: reads the answer off the question's result and drafts a reply."""
    (answer,) = [part for part in tool_returns(messages) if part.tool_name == "ask_user"]
    name = str(answer.content).rsplit(": ", 1)[-1]
    body = f"Hi Dana, I have looped in {name}, our contact at Northwind.\nRobin"
    return respond(call("reply_email", body=body, rationale=f"the user said {name}"))(
        messages, info
    )


async def asked(make_agent, queue, ledger, script: Script):
    claimed = claim_one(ledger, NORTHWIND)
    outcome = await AgentProcessor(make_agent(script.model), queue).process(claimed)
    ledger.complete(claimed.id, claimed.lease_owner, outcome.state, outcome.triage)
    (question,) = queue.list(item_id=claimed.id)
    return claimed, question


def reviser(make_agent, queue, ledger, clock, settings, script: Script) -> FeedbackReviser:
    return FeedbackReviser(make_agent(script.model), queue, ledger, clock, settings.worker)


async def test_a_question_waits_in_the_queue_like_a_draft(make_agent, queue, ledger) -> None:
    script = Script(ASK)
    claimed, question = await asked(make_agent, queue, ledger, script)

    assert question.kind == "ask_user" and question.status == ApprovalStatus.PENDING
    assert question.args == {"question": QUESTION, "choices": ["Julia Berg", "Tom Reyes"]}
    assert question.rationale == "the memory names no contact at Northwind"
    assert ledger.get(claimed.id).state == ItemState.AWAITING_APPROVAL
    # the paused run holds the call as a Pydantic AI question, not as an approval
    assert question.run_state is not None
    state = RunState.loads(question.run_state)
    assert state.question_ids == [question.tool_call_id] and state.tool_call_ids == []
    assert len(script.requests) == 1


async def test_the_answer_resumes_the_paused_run_and_the_agent_drafts_with_it(
    make_agent, queue, ledger, clock, settings
) -> None:
    script = Script(ASK, draft_with_the_answer)
    claimed, question = await asked(make_agent, queue, ledger, script)

    queue.answer(
        question.id, shown_hash=queue.shown_hash(question), text="Julia Berg", actor="robin"
    )
    answered = queue.get(question.id)
    assert answered.status == ApprovalStatus.FEEDBACK and answered.decision == Decision.ANSWERED
    assert answered.decision_message == "Julia Berg"
    assert answered.reflection_status == ReflectionStatus.PENDING  # memory may learn it

    assert await reviser(make_agent, queue, ledger, clock, settings, script).tick() == 1

    # one more model request, on the paused run's history: not a fresh run
    assert len(script.requests) == 2
    resumed = script.requests[1]
    assert user_prompt(resumed) == user_prompt(script.requests[0])
    asked_call = [
        part
        for message in resumed
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, ToolCallPart)
    ]
    assert [part.tool_call_id for part in asked_call] == [question.tool_call_id]
    (result,) = tool_returns(resumed)
    assert result.tool_call_id == question.tool_call_id and result.outcome == "success"
    assert "Julia Berg" in str(result.content) and "own words" in str(result.content)

    rows = queue.list(item_id=claimed.id)
    (reply,) = [row for row in rows if row.kind == "reply_email"]
    assert "Julia Berg" in reply.args["body"]
    assert reply.parent_id == question.id and reply.status == ApprovalStatus.PENDING
    assert queue.get(question.id).revised_at is not None
    assert ledger.get(claimed.id).state == ItemState.AWAITING_APPROVAL  # the reply waits


async def test_a_choice_answers_with_its_text(make_agent, queue, ledger, clock, settings) -> None:
    script = Script(ASK, draft_with_the_answer)
    claimed, question = await asked(make_agent, queue, ledger, script)

    queue.answer(question.id, shown_hash=queue.shown_hash(question), choice=2, actor="robin")
    assert await reviser(make_agent, queue, ledger, clock, settings, script).tick() == 1

    (reply,) = [row for row in queue.list(item_id=claimed.id) if row.kind == "reply_email"]
    assert "Tom Reyes" in reply.args["body"]


async def test_a_question_left_unanswered_beside_feedback_is_not_asked_again(
    make_agent, queue, ledger, clock, settings
) -> None:
    both = respond(
        call("reply_email", body="Will do.", rationale="a request"),
        call("ask_user", question=QUESTION, rationale="no contact in memory"),
    )

    def revise(messages, info) -> ModelResponse:
        by_tool = {part.tool_name: str(part.content) for part in tool_returns(messages)}
        assert by_tool["ask_user"] == UNANSWERED
        assert "feedback: shorter" in by_tool["reply_email"]
        return respond(call("reply_email", body="OK.", rationale="shorter"))(messages, info)

    script = Script(both, revise)
    claimed = claim_one(ledger, NORTHWIND)
    outcome = await AgentProcessor(make_agent(script.model), queue).process(claimed)
    ledger.complete(claimed.id, claimed.lease_owner, outcome.state, outcome.triage)
    reply, question = queue.list(item_id=claimed.id)
    assert (reply.kind, question.kind) == ("reply_email", "ask_user")
    queue.feedback(reply.id, shown_hash=queue.shown_hash(reply), message="shorter", actor="r")

    assert await reviser(make_agent, queue, ledger, clock, settings, script).tick() == 1
    assert queue.get(question.id).status == ApprovalStatus.PENDING  # still the human's to answer


def test_the_instructions_say_when_to_ask_and_the_tool_is_offered() -> None:
    text = instructions()
    rule = next(line for line in text.splitlines() if "ask_user" in line)
    assert rule.startswith("- When neither the memory nor the message says")
    assert "do not guess" in rule and "draft with it" in rule
    tools_line = next(line for line in text.splitlines() if line.startswith("2. To act"))
    assert "ask_user" not in tools_line  # a question is not an action the user approves


async def test_the_tool_is_deferred_without_running_anything(make_agent, queue, ledger) -> None:
    script = Script(ASK)
    await asked(make_agent, queue, ledger, script)
    (info,) = script.infos
    (tool,) = [tool for tool in info.function_tools if tool.name == "ask_user"]
    assert set(tool.parameters_json_schema["properties"]) == {"question", "choices", "rationale"}
    assert "waits" in (tool.description or "")
    # nothing answered the call during the run: no tool result was sent back to the model
    assert not any(
        isinstance(part, ToolReturnPart)
        for message in script.requests[0]
        if isinstance(message, ModelRequest)
        for part in message.parts
    )


async def test_a_triage_given_with_the_question_keeps_both(make_agent) -> None:
    script = Script(
        respond(
            call("ask_user", question=QUESTION, rationale="no contact in memory"),
            triage("act", "needs the contact's name", "Dana: loop in Northwind"),
        )
    )
    outcome = await make_agent(script.model).triage(item_from(NORTHWIND))
    assert [draft.kind for draft in outcome.drafts] == ["ask_user"]
    assert outcome.triage.reason == "needs the contact's name"
    assert outcome.run_state is not None and outcome.run_state.question_ids
    assert len(script.requests) == 1
