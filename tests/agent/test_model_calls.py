"""Model requests per email and a prompt whose shared part comes first (for prompt caches)."""

from __future__ import annotations

import json

from pydantic_ai.models.function import AgentInfo

from ambient.agent.examples import PastAction, PastDecision
from tests.agent.conftest import item_from, meeting_email
from tests.agent.scripted import Script, call, respond, triage, user_prompt

REPLY = {"body": "Friday at 10 works. Robin", "rationale": "Dana asks for a meeting"}
EXAMPLE = PastDecision(
    item_id=3,
    sender="Dana <dana@example.com>",
    subject="Budget",
    decision="act",
    priority="normal",
    actions=(PastAction("reply_email", "approved", "to dana@example.com: Re", "Fine. Robin"),),
    match="same sender",
)


async def test_a_plain_reply_takes_one_model_request(make_agent) -> None:
    script = Script(respond(call("reply_email", **REPLY), triage("act", "a meeting", "Friday?")))
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert len(script.requests) == 1 and outcome.usage.requests == 1
    (draft,) = outcome.drafts
    assert draft.kind == "reply_email" and draft.args["body"] == REPLY["body"]
    assert outcome.triage.reason == "a meeting"  # the triage given with the draft is kept
    assert outcome.run_state is not None  # the run waits for the human, not for the model


async def test_a_reply_drafted_without_a_triage_takes_one_model_request(make_agent) -> None:
    script = Script(respond(call("reply_email", **REPLY)))
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert len(script.requests) == 1 and [d.kind for d in outcome.drafts] == ["reply_email"]


def _sent_before_the_user_prompt(info: AgentInfo) -> str:
    """What a provider receives ahead of the user prompt: the tool definitions, then the
    instructions."""
    tools = [
        (tool.name, tool.description, tool.parameters_json_schema)
        for tool in [*info.function_tools, *info.output_tools]
    ]
    return json.dumps(tools) + (info.instructions or "")


async def test_two_different_emails_share_everything_before_their_user_prompt(
    make_agent, clock
) -> None:
    script = Script(respond(triage("notify")), respond(triage("notify")))
    agent = make_agent(script.model)
    await agent.triage(item_from(meeting_email(), item_id=7), examples=[])
    other = meeting_email(sender="Lee <lee@elsewhere.example>", subject="Invoice", body="Pay me.")
    await agent.triage(item_from(other, item_id=8), examples=[EXAMPLE])
    first, second = script.infos
    assert _sent_before_the_user_prompt(first) == _sent_before_the_user_prompt(second)
    # what differs from email to email (the examples, the email) is in the user prompt only
    assert "lee@elsewhere.example" in user_prompt(script.requests[1])
    assert "<untrusted_past_decision" in user_prompt(script.requests[1])
    assert "untrusted_past_decision" not in (second.instructions or "")
    assert "Pay me." not in (second.instructions or "")


async def test_the_instructions_start_with_the_fixed_rules_and_end_with_today(
    make_agent, clock
) -> None:
    script = Script(respond(triage("notify")), respond(triage("notify")))
    agent = make_agent(script.model)
    await agent.triage(item_from(meeting_email(), item_id=7))
    clock.advance(days=1)
    await agent.triage(item_from(meeting_email(), item_id=8))
    first, second = (info.instructions or "" for info in script.infos)
    assert first.startswith("You are ambient")
    assert first.endswith("Today is Tuesday 2026-11-24 (UTC).")
    assert second.endswith("Today is Wednesday 2026-11-25 (UTC).")
    # the memory comes before the date: a new day changes only the last line
    assert first.index("Reply to meeting requests") < first.index("Today is")
    assert first.rsplit("\n", 1)[0] == second.rsplit("\n", 1)[0]
