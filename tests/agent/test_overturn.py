"""An overturned ignore runs again as the user's request to act: the worker claims it with the
user's words, the agent is told the user wants it acted on (and no pre-rule decides it again),
and the drafts it makes wait for approval like any other."""

from __future__ import annotations

import json

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo

from ambient.agent.prerules import PreRules
from ambient.agent.processor import AgentProcessor
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import ApprovalStatus
from ambient.core.config import Settings
from ambient.core.items import InboundItem, ItemState, Review
from ambient.core.ledger import Ledger
from ambient.core.lineage import Lineage
from ambient.core.review import ItemReview
from ambient.daemon.worker import Worker
from tests.agent.scripted import Script, call, respond, triage, user_prompt
from tests.daemon.mail import email_bytes

WORDS = "Northwind is a customer: tell them the quote follows on Monday"
QUOTE = email_bytes(
    "Quote for 40 chairs?",
    sender="Northwind Sales <sales@northwind.example>",
    body="Hello, could you send us a quote for 40 chairs? Regards, Northwind",
)


def drafts_when_asked(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The run after the overturn: it sees the user's request, and drafts the reply."""
    prompt = user_prompt(messages)
    assert "overturned that decision because they want it acted on" in prompt
    assert f"The user's own words (from the user, not from the email): {WORDS}" in prompt
    body = "Hello, the quote for 40 chairs follows on Monday."
    return respond(call("reply_email", body=body, rationale="the user asked for a reply"))(
        messages, info
    )


async def test_an_overturned_ignore_runs_again_with_the_users_words_and_drafts_a_reply(
    make_agent, settings: Settings, ledger: Ledger, queue: ApprovalQueue, engine, clock
) -> None:
    script = Script(respond(triage("ignore", "looks like marketing")), drafts_when_asked)
    processor = AgentProcessor(make_agent(script.model), queue)
    worker = Worker(ledger, processor, settings.worker, "w1")
    ledger.ingest(InboundItem("inbox", "k1", QUOTE))
    await worker.run_until_idle()
    (item,) = ledger.items()
    assert (item.state, item.review) == (ItemState.DONE, Review.UNREVIEWED)
    assert "overturned" not in user_prompt(script.requests[0])

    ItemReview(engine, clock).overturn(item.id, WORDS)
    await worker.run_until_idle()

    assert len(script.requests) == 2
    item = ledger.get(item.id)
    assert (item.state, item.review) == (ItemState.AWAITING_APPROVAL, Review.OVERTURNED)
    assert json.loads(item.triage_json)["decision"] == "act"
    (draft,) = queue.list(item_id=item.id)
    assert (draft.kind, draft.status) == ("reply_email", ApprovalStatus.PENDING)
    assert draft.effective_args["to"] == ["sales@northwind.example"]
    assert "follows on Monday" in draft.effective_args["body"]


async def test_an_ignore_a_pre_rule_made_is_not_made_again_by_the_rule_after_an_overturn(
    make_agent, settings: Settings, ledger: Ledger, queue: ApprovalQueue, engine, clock
) -> None:
    def names_the_rule(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        assert "it was decided \"ignore\" by the rule 'bulk'" in user_prompt(messages)
        return respond(triage("notify", "the user wants to see this list's mail"))(messages, info)

    script = Script(names_the_rule)
    processor = AgentProcessor(make_agent(script.model), queue, rules=PreRules())
    worker = Worker(ledger, processor, settings.worker, "w1")
    newsletter = email_bytes("Digest #4", extra_headers="List-Id: Digest <list.digest.example>\r\n")
    ledger.ingest(InboundItem("inbox", "k1", newsletter))
    await worker.run_until_idle()
    (item,) = ledger.items()
    assert Lineage.from_json(item.lineage_json).pre_rule == "bulk" and not script.requests

    overturn = ItemReview(engine, clock).overturn(item.id)
    assert overturn.pre_rule == "bulk" and overturn.note == ""
    await worker.run_until_idle()

    assert len(script.requests) == 1  # the model decided this time, not the rule
    item = ledger.get(item.id)
    assert Lineage.from_json(item.lineage_json).pre_rule is None
    assert json.loads(item.triage_json)["decision"] == "notify"
    assert item.review == Review.OVERTURNED  # the user's request stands; no new review
