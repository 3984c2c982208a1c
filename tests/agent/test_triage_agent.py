"""The agent on its own: triage outputs, every tool, deferral, errors, limits."""

from __future__ import annotations

import pytest
from pydantic_ai import DeferredToolRequests
from pydantic_ai.exceptions import (
    ContentFilterError,
    ModelContextWindowExceededError,
    ModelHTTPError,
)
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.test import TestModel

from ambient.agent.runner import NO_RATIONALE, STATED_TRIAGE_RETRY
from ambient.core.processing import PermanentItemError, TransientItemError
from tests.agent.conftest import item_from, meeting_email
from tests.agent.scripted import Script, call, respond, text, tool_returns, triage

REPLY = {"body": "Friday at 10 works. Robin", "rationale": "Dana asks for a meeting"}


@pytest.mark.parametrize("decision", ["ignore", "notify", "act"])
async def test_a_run_without_actions_ends_with_the_typed_triage(make_agent, decision) -> None:
    script = Script(respond(triage(decision, "rules say so", "Dana wants a meeting", "high")))
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert outcome.drafts == [] and outcome.run_state is None
    assert outcome.triage.model_dump() == {
        "decision": decision,
        "reason": "rules say so",
        "priority": "high",
        "summary": "Dana wants a meeting",
    }


async def test_overlong_triage_text_is_shortened_not_refused(make_agent) -> None:
    script = Script(respond(triage("notify", "r" * 900, "s" * 400)))
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert len(outcome.triage.reason) == 500 and len(outcome.triage.summary) == 200
    assert len(script.requests) == 1


async def test_reply_email_defaults_to_the_sender_and_a_re_subject(make_agent) -> None:
    script = Script(respond(call("reply_email", **REPLY)))
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    (draft,) = outcome.drafts
    assert draft.kind == "reply_email"
    assert draft.args == {
        "to": ["dana@example.com"],
        "cc": [],
        "subject": "Re: Meeting on Friday?",
        "body": "Friday at 10 works. Robin",
        "attachments": [],
    }
    assert draft.rationale == "Dana asks for a meeting"
    assert outcome.run_state is not None
    assert outcome.run_state.tool_call_ids == [draft.tool_call_id]
    assert outcome.triage.decision == "act" and outcome.triage.reason == "Dana asks for a meeting"


async def test_reply_goes_to_reply_to_when_the_message_sets_one(make_agent) -> None:
    raw = meeting_email().replace(b"To: ", b"Reply-To: team@example.com\r\nTo: ", 1)
    script = Script(respond(call("reply_email", **REPLY)))
    outcome = await make_agent(script.model).triage(item_from(raw))
    assert outcome.drafts[0].args["to"] == ["team@example.com"]


async def test_every_action_tool_is_deferred_never_run(make_agent, settings) -> None:
    settings.policy.webhook_allowlist = ["https://hooks.example.com/ambient/"]
    script = Script(
        respond(
            call("reply_email", **REPLY),
            call(
                "send_email",
                to=["Lee <lee@example.com>"],
                subject="Budget",
                body="FYI",
                rationale="Lee owns the budget",
            ),
            call(
                "write_note",
                path="meetings/dana.md",
                content="# Dana\nFriday 10:00",
                rationale="keep a note",
            ),
            call(
                "call_webhook",
                url="https://hooks.example.com/ambient/calendar",
                payload={"when": "Fri 10:00"},
                rationale="book the room",
            ),
        )
    )
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert [draft.kind for draft in outcome.drafts] == [
        "reply_email",
        "send_email",
        "write_note",
        "call_webhook",
    ]
    send, note, hook = outcome.drafts[1:]
    assert send.args["to"] == ["lee@example.com"]  # normalized by the action model
    assert note.args == {"path": "meetings/dana.md", "content": "# Dana\nFriday 10:00"}
    assert hook.args == {
        "url": "https://hooks.example.com/ambient/calendar",
        "payload": {"when": "Fri 10:00"},
    }
    assert len(script.requests) == 1  # the run paused; no tool body ran
    assert not settings.notes_dir.exists()


async def test_webhook_outside_the_allow_list_is_sent_back_to_the_model(
    make_agent, settings
) -> None:
    settings.policy.webhook_allowlist = ["https://hooks.example.com/ambient/"]
    script = Script(
        respond(
            call(
                "call_webhook",
                url="https://hooks.example.com.evil.net/x",
                payload={},
                rationale="r",
            )
        ),
        respond(triage("notify")),
    )
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert outcome.drafts == []
    (retry,) = [part for part in script.requests[1][-1].parts]
    assert "not in the allow-list" in str(retry.content)
    assert "https://hooks.example.com/ambient/" in str(retry.content)


async def test_note_paths_that_leave_the_notes_folder_are_sent_back(make_agent) -> None:
    script = Script(
        respond(call("write_note", path="../memory/profile.md", content="x", rationale="r")),
        respond(call("write_note", path="/etc/passwd", content="x", rationale="r")),
        respond(triage("notify")),
    )
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert outcome.drafts == []
    assert "'..' is not allowed" in str(script.requests[1][-1].parts[0].content)
    assert "absolute" in str(script.requests[2][-1].parts[0].content)


async def test_invalid_addresses_are_sent_back_to_the_model(make_agent) -> None:
    script = Script(
        respond(
            call(
                "send_email",
                to=["not an address"],
                subject="x\nBcc: evil@x.com",
                body="b",
                rationale="r",
            )
        ),
        respond(triage("notify")),
    )
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert outcome.drafts == []
    feedback = str(script.requests[1][-1].parts[0].content)
    assert "not an email address" in feedback and "one line" in feedback


async def test_memory_tools_read_sections_and_search(make_agent) -> None:
    script = Script(
        respond(
            call("read_section", file="triage_rules.md", heading="Meetings"),
            call("search", query="newsletters"),
        ),
        respond(call("read_section", file="../../etc/passwd")),
        respond(triage("notify")),
    )
    await make_agent(script.model).triage(item_from(meeting_email()))
    section, hits = tool_returns(script.requests[1])
    assert "propose a time" in section.content and "Newsletters" not in section.content
    assert "triage_rules.md:7: Ignore newsletters." in hits.content
    escape = script.requests[2][-1].parts[0]
    assert "'..' is not allowed" in str(escape.content)


async def test_memory_is_in_the_instructions_within_budget(make_agent) -> None:
    script = Script(respond(triage("notify")))
    await make_agent(script.model).triage(item_from(meeting_email()))
    instructions = script.infos[0].instructions or ""
    assert "Reply to meeting requests from colleagues" in instructions
    assert "evidence about what" in instructions
    assert "Today is Tuesday 2026-11-24" in instructions


async def test_triage_given_with_the_actions_keeps_both(make_agent) -> None:
    script = Script(
        respond(call("reply_email", **REPLY), triage("act", "meeting request", "Dana: Friday?"))
    )
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert [draft.kind for draft in outcome.drafts] == ["reply_email"]
    assert outcome.triage.reason == "meeting request"
    assert outcome.run_state is not None
    stored = outcome.run_state.messages[-1]
    assert any(STATED_TRIAGE_RETRY in str(part.content) for part in stored.parts)


async def test_rationale_falls_back_to_the_text_before_the_call(make_agent) -> None:
    script = Script(
        respond(
            text("Dana wants to meet; I will accept."),
            call("reply_email", body="Yes", rationale=""),
            call("reply_email", body="Also", rationale=""),
        )
    )
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert [draft.rationale for draft in outcome.drafts] == [
        "Dana wants to meet; I will accept."
    ] * 2
    script = Script(respond(call("reply_email", body="Yes", rationale="")))
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert outcome.drafts[0].rationale == NO_RATIONALE
    assert outcome.triage.reason == "actions drafted for approval"


async def test_usage_limit_is_a_permanent_failure(make_agent, settings) -> None:
    settings.agent.request_limit = 2

    def forever(messages, info) -> ModelResponse:
        return ModelResponse(parts=[call("search", query="again")])

    with pytest.raises(PermanentItemError, match="usage limit"):
        await make_agent(FunctionModel(forever)).triage(item_from(meeting_email()))


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (ModelContextWindowExceededError("m", "too long"), "does not fit the model's context"),
        (ContentFilterError("refused"), "content filter"),
    ],
)
async def test_failures_that_cannot_succeed_later_are_permanent(make_agent, error, message) -> None:
    def failing(messages, info) -> ModelResponse:
        raise error

    with pytest.raises(PermanentItemError, match=message):
        await make_agent(FunctionModel(failing)).triage(item_from(meeting_email()))


async def test_provider_errors_are_transient_failures_for_the_ledger_to_retry(make_agent) -> None:
    def unavailable(messages, info) -> ModelResponse:
        raise ModelHTTPError(503, "test-model", "overloaded")

    with pytest.raises(TransientItemError, match="ModelHTTPError: status_code: 503") as raised:
        await make_agent(FunctionModel(unavailable)).triage(item_from(meeting_email()))
    assert isinstance(raised.value.__cause__, ModelHTTPError)


async def test_the_test_model_drafts_through_the_same_path(make_agent) -> None:
    outcome = await make_agent(TestModel()).triage(item_from(meeting_email()))
    mailbox = {"move_message", "flag_message", "tag_message", "mark_read"}
    assert {draft.kind for draft in outcome.drafts} <= {
        "reply_email",
        "send_email",
        "write_note",
        "ask_user",  # a question is drafted the same way (deferred as a Pydantic AI question)
        *mailbox,
    }
    assert outcome.drafts and isinstance(outcome.run_state.requests, DeferredToolRequests)
