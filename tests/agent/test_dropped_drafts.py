"""A draft the model cannot get valid is dropped with a note, never a failed item; expected run
failures are one log line; the memory tools answer a wrong name with what exists."""

from __future__ import annotations

import json
import logging

from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelResponse

from ambient.agent.processor import AgentProcessor
from ambient.agent.runner import TOOL_RETRIES
from ambient.agent.tools import action_args, build_toolset
from ambient.approvals.kinds import KINDS
from ambient.core.items import InboundItem, ItemState
from ambient.daemon.worker import Worker
from ambient.models.local.grammar import schema_grammar
from tests.agent.conftest import item_from, meeting_email
from tests.agent.scripted import Script, call, respond, tool_returns, triage

EMPTY_SEND = {"to": [""], "subject": "s", "body": "b", "attachments": [""], "rationale": "r"}
REPLY = {"body": "Friday at 10 works.", "rationale": "meeting request"}


def invalid_sends(count: int) -> list:
    return [respond(call("send_email", **EMPTY_SEND)) for _ in range(count)]


async def test_a_draft_that_stays_invalid_is_dropped_and_the_run_ends_in_a_triage(
    make_agent,
) -> None:
    script = Script(*invalid_sends(TOOL_RETRIES + 1), respond(triage("act", "needs a reply")))
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert outcome.drafts == [] and outcome.run_state is None
    assert [dropped.kind for dropped in outcome.dropped] == ["send_email"]
    # nothing left to approve: "act" becomes "notify", and the reason says what was dropped
    assert outcome.triage.decision == "notify"
    assert outcome.triage.reason.startswith("[dropped invalid draft(s): send_email: to.0:")
    assert outcome.triage.reason.endswith("needs a reply")
    (failed,) = tool_returns(script.requests[TOOL_RETRIES + 1])
    assert failed.outcome == "failed" and "do not call it again" in str(failed.content).lower()
    offered = {tool.name for tool in script.infos[-1].function_tools}
    assert "send_email" not in offered and "reply_email" in offered


async def test_valid_drafts_of_the_same_run_are_kept(make_agent) -> None:
    script = Script(
        *invalid_sends(TOOL_RETRIES + 1),
        respond(call("reply_email", **REPLY)),
    )
    outcome = await make_agent(script.model).triage(item_from(meeting_email()))
    assert [draft.kind for draft in outcome.drafts] == ["reply_email"]
    assert outcome.triage.decision == "act" and "send_email" in outcome.triage.reason
    assert outcome.run_state is not None


async def test_an_item_whose_drafts_keep_failing_is_done_not_failed(
    make_agent, queue, ledger, settings, caplog
) -> None:
    script = Script(*invalid_sends(TOOL_RETRIES + 1), respond(triage("act")))
    item_id = ledger.ingest(InboundItem("inbox", "k1", meeting_email())).item_id
    worker = Worker(ledger, AgentProcessor(make_agent(script.model), queue), settings.worker, "w")
    with caplog.at_level(logging.INFO):
        await worker.run_until_idle()
    item = ledger.get(item_id)
    assert item.state == ItemState.DONE and item.attempts <= 1
    assert "send_email" in json.loads(item.triage_json or "{}")["reason"]
    assert f"item={item_id} trace={item.trace_id} dropped invalid draft(s): send_email" in (
        caplog.text
    )


async def test_a_model_error_fails_the_attempt_in_one_line_without_a_traceback(
    make_agent, queue, ledger, settings, caplog
) -> None:
    def overloaded(messages, info) -> ModelResponse:
        raise ModelHTTPError(503, "test-model", "overloaded")

    from pydantic_ai.models.function import FunctionModel

    item_id = ledger.ingest(InboundItem("inbox", "k1", meeting_email())).item_id
    agent = make_agent(FunctionModel(overloaded))
    worker = Worker(ledger, AgentProcessor(agent, queue), settings.worker, "w")
    with caplog.at_level(logging.INFO):
        await worker.run_until_idle()
    item = ledger.get(item_id)
    assert item.state == ItemState.FAILED and "ModelHTTPError" in (item.last_error or "")
    (line,) = [r for r in caplog.records if "processing failed" in r.getMessage()]
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert f"item={item_id} trace={item.trace_id}" in line.getMessage()
    assert "Traceback" not in caplog.text


def test_the_grammar_cannot_write_an_empty_address_or_attachment_name() -> None:
    tools = build_toolset().tools
    for name in ("send_email", "reply_email"):
        grammar = schema_grammar(tools[name].tool_def.parameters_json_schema)
        rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines())
        address = rules["email-string"]
        assert address.startswith('"\\"" [a-zA-Z0-9._%+-]{1,64} "@"')
        to_array = next(body for rule, body in rules.items() if rule.endswith("-to-array"))
        assert "email-string" in to_array and "string-" not in to_array
        attachments = next(b for r, b in rules.items() if r.endswith("-attachments-array"))
        item_rule = attachments.split()[3]
        assert rules[item_rule].startswith('"\\"" char{1,')  # at least one character
        body_rule = rules[next(r for r in rules if r.endswith("-body-kv"))].split()[-1]
        assert rules[body_rule].startswith('"\\"" char{1,')


def test_a_named_address_still_passes_and_is_stored_bare() -> None:
    raw = {"to": ["Dana <dana@example.com>"], "subject": "s", "body": "b", "rationale": "r"}
    args, rationale = action_args("send_email", raw, item_from(meeting_email()))
    assert args["to"] == ["dana@example.com"] and rationale == "r"
    assert KINDS.validate("send_email", args) == args


async def test_memory_tools_answer_a_missing_name_with_what_exists(make_agent) -> None:
    script = Script(
        respond(
            call("read_section", file="people.md"),
            call("read_section", file="triage_rules.md", heading="Holidays"),
            call("search", query="zeppelin"),
        ),
        respond(triage("notify")),
    )
    await make_agent(script.model).triage(item_from(meeting_email()))
    missing_file, missing_heading, no_hits = tool_returns(script.requests[1])
    assert all(part.outcome == "success" for part in (missing_file, missing_heading, no_hits))
    assert missing_file.content == (
        "no memory file 'people.md'; the memory files are: profile.md, triage_rules.md"
    )
    assert "no heading 'Holidays'" in missing_heading.content
    assert "'Meetings'" in missing_heading.content
    assert "no line in memory matches 'zeppelin'" in no_hits.content
