"""AMBIENT_MODEL=test: the demo model triages plausibly, drafts one readable reply, revises it."""

from __future__ import annotations

import pytest
from pydantic_ai.messages import ModelResponse, ToolCallPart

from ambient.agent.runner import RunOutcome, TriageAgent
from ambient.approvals.tables import ApprovalStatus
from ambient.core.config import Settings
from ambient.home import sample_messages
from ambient.memory.store import MemoryStore
from ambient.models.demo.model import demo_model
from tests.agent.conftest import claim_one, item_from, meeting_email
from tests.conftest import FrozenClock
from tests.daemon.mail import email_bytes

MEETING_REPLY = (
    "Hi Dana,\n\n"
    'Thanks for your message about "Can we move Thursday\'s review to Friday?" '
    "I'll get back to you shortly.\n\n"
    "Best,\nRobin\n"
)


@pytest.fixture
def seeded(settings: Settings) -> MemoryStore:
    """The memory `ambient init` writes, as a newcomer has it."""
    store = MemoryStore(settings.memory_dir)
    store.seed()
    return store


@pytest.fixture
def demo_agent(settings: Settings, seeded: MemoryStore, clock: FrozenClock) -> TriageAgent:
    settings.user_name, settings.user_email = "Robin Example", "you@example.com"
    return TriageAgent(settings, demo_model(), seeded, clock)


async def triage_samples(agent: TriageAgent) -> list[RunOutcome]:
    return [
        await agent.triage(item_from(raw, item_id=number))
        for number, raw in enumerate(sample_messages(), start=1)
    ]


def responses(outcome: RunOutcome) -> list[ModelResponse]:
    assert outcome.run_state is not None
    return [message for message in outcome.run_state.messages if isinstance(message, ModelResponse)]


async def test_the_sample_mails_get_plausible_triages_and_one_readable_reply(demo_agent) -> None:
    meeting, newsletter, invoice = await triage_samples(demo_agent)

    assert (meeting.triage.decision, meeting.triage.priority) == ("act", "high")  # memory: Dana
    assert meeting.triage.summary == "Dana Whitfield: Can we move Thursday's review to Friday?"
    (reply,) = meeting.drafts
    assert reply.kind == "reply_email"
    assert reply.args["to"] == ["dana@northwind.example"]
    assert reply.args["subject"] == "Re: Can we move Thursday's review to Friday?"
    assert reply.args["body"] == MEETING_REPLY
    assert reply.rationale.startswith(
        'Dana asks: "Could we move the quarterly review to Friday at 10:00 instead?"'
    )

    assert (newsletter.triage.decision, newsletter.drafts) == ("ignore", [])
    assert "news@digest.example: weekly newsletter; ignore." in newsletter.triage.reason

    assert (invoice.triage.decision, invoice.triage.priority, invoice.drafts) == (
        "notify",
        "high",
        [],
    )
    assert "notify, never reply" in invoice.triage.reason
    assert "not followed" in invoice.triage.reason  # the "forward every email" line


@pytest.mark.parametrize(
    ("sender", "body", "decision"),
    [
        ("Shop <noreply@shop.example>", "Your order has shipped. Can we help?", "ignore"),
        ("Sam <sam@example.org>", "Great talk today. Unsubscribe here.", "ignore"),
        ("Sam <sam@example.org>", "FYI: the build is green again.", "notify"),
        ("Sam <sam@example.org>", "Could you send me the slides from Tuesday", "act"),
        ("Sam <sam@example.org>", "Are you free on Monday?", "act"),
    ],
)
async def test_bulk_is_ignored_a_question_is_answered_and_the_rest_is_notify(
    make_agent, sender: str, body: str, decision: str
) -> None:
    raw = email_bytes("Slides", sender=sender, body=body)
    outcome = await make_agent(demo_model()).triage(item_from(raw))
    assert outcome.triage.decision == decision
    assert [draft.kind for draft in outcome.drafts] == (
        ["reply_email"] if decision == "act" else []
    )


async def test_a_question_to_other_people_only_notifies_the_user(make_agent, settings) -> None:
    settings.user_email = "me@example.com"
    raw = email_bytes("Lunch?", to="team@example.com", body="Who wants lunch at noon?")
    outcome = await make_agent(demo_model()).triage(item_from(raw))
    assert (outcome.triage.decision, outcome.drafts) == ("notify", [])
    assert "you are not in To" in outcome.triage.reason


async def test_the_memory_is_searched_when_it_is_not_in_the_prompt_whole(
    demo_agent, settings
) -> None:
    settings.memory.inline_file_max_tokens = 10  # every file shown as a table of contents
    meeting = (await triage_samples(demo_agent))[0]
    first = responses(meeting)[0].parts
    assert first == [
        ToolCallPart("search", {"query": "dana@northwind.example"}, first[0].tool_call_id)
    ]
    assert meeting.triage.priority == "high"  # found by the search: "high priority"
    assert len(meeting.drafts) == 1


async def test_usage_grows_with_the_text_sent_and_drafted(make_agent) -> None:
    agent = make_agent(demo_model())
    short = await agent.triage(item_from(meeting_email()))
    long_body = "Hi Robin, can we meet on Friday?\n" + "Some background on the budget.\n" * 130
    long = await agent.triage(item_from(meeting_email(body=long_body)))
    (short_usage,) = [response.usage for response in responses(short)]
    (long_usage,) = [response.usage for response in responses(long)]
    extra = (len(long_body) - len(meeting_email().split(b"\r\n\r\n", 1)[1])) / 4
    assert short_usage.input_tokens > 500  # instructions, memory and tool schemas count too
    assert abs(long_usage.input_tokens - short_usage.input_tokens - extra) < extra * 0.15
    drafted = sum(len(part.args_as_json_str()) for part in responses(short)[0].parts)
    assert abs(short_usage.output_tokens - drafted / 4) < 20


async def test_the_same_message_gets_the_same_answer(make_agent) -> None:
    agent = make_agent(demo_model())
    first, second = [await agent.triage(item_from(meeting_email())) for _ in range(2)]
    assert first.triage == second.triage
    assert [draft.args for draft in first.drafts] == [draft.args for draft in second.drafts]


async def test_each_feedback_is_applied_to_the_reply_in_turn(
    runtime, queue, ledger, memory
) -> None:
    claimed = claim_one(ledger, meeting_email())
    outcome = await runtime.processor.process(claimed)
    ledger.complete(claimed.id, claimed.lease_owner, outcome.state, outcome.triage)
    (draft,) = queue.list(item_id=claimed.id)
    reviser = runtime.reviser
    bodies = [draft.args["body"]]
    for words in ("Shorter, please", "Say Friday at 10 works for me"):
        queue.feedback(draft.id, shown_hash=queue.shown_hash(draft), message=words, actor="robin")
        assert await reviser.tick() == 1
        (draft,) = [row for row in queue.list(item_id=claimed.id) if row.parent_id == draft.id]
        bodies.append(draft.args["body"])
    assert bodies == [
        'Hi Dana,\n\nThanks for your message about "Meeting on Friday?" '
        "I'll get back to you shortly.\n\nBest,\n",
        'Hi Dana,\n\nThanks, I\'ll get back to you about "Meeting on Friday?" soon.\n\nBest,\n',
        "Hi Dana,\n\nFriday at 10 works for me.\n\nBest,\n",
    ]
    assert draft.rationale == 'Revised after your feedback: "Say Friday at 10 works for me".'
    assert draft.status == ApprovalStatus.PENDING


async def test_feedback_asking_for_no_reply_ends_with_notify_and_no_draft(
    runtime, queue, ledger, memory
) -> None:
    claimed = claim_one(ledger, meeting_email())
    outcome = await runtime.processor.process(claimed)
    ledger.complete(claimed.id, claimed.lease_owner, outcome.state, outcome.triage)
    (draft,) = queue.list(item_id=claimed.id)
    queue.feedback(
        draft.id, shown_hash=queue.shown_hash(draft), message="Don't reply, I'll call", actor="r"
    )
    assert await runtime.reviser.tick() == 1
    assert queue.list(item_id=claimed.id) == [queue.get(draft.id)]  # no new draft
    assert queue.get(draft.id).revised_at is not None
