"""Replaying decided items: known models give known agreement with the human's decisions."""

from __future__ import annotations

import difflib

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import Engine

from ambient.core.config import Settings
from ambient.evals.agreement import ReplayedAction, compare
from ambient.evals.dataset import ExpectedOutput
from ambient.evals.replay import Setup
from ambient.evals.run import EvalOptions, EvalRun, run_eval
from tests.conftest import FrozenClock
from tests.evals.conftest import PlannedModel, as_the_human_did, ignores_everything


async def replay_inbox(
    settings: Settings, engine: Engine, clock: FrozenClock, *setups: Setup, **options: object
) -> EvalRun:
    return await run_eval(
        setups,
        EvalOptions(**options),  # type: ignore[arg-type]
        settings=settings,
        engine=engine,
        clock=clock,
        tracing=None,
    )


async def test_two_models_side_by_side_give_their_known_agreement(
    settings: Settings, engine: Engine, clock: FrozenClock, inbox: list[int]
) -> None:
    ignoring = Setup("ignores", PlannedModel(ignores_everything).model)
    human = Setup("as-the-human", PlannedModel(as_the_human_did).model)

    run = await replay_inbox(settings, engine, clock, ignoring, human)

    first, second = (totals.as_json() for totals in run.totals)
    # the ignorer: only the newsletter's triage; the kinds of the three items with nothing
    # approved; no recipient, no text; it drafts nothing the human rejected
    assert first["model"] == "ignores"
    assert (first["items"], first["errors"]) == (5, 0)
    assert first["triage_agreement"] == 0.2
    assert first["action_kind_agreement"] == 0.6
    assert first["recipient_agreement"] == 0.0
    assert first["draft_similarity"] == 0.0
    assert (first["rejected"], first["rejected_still_drafted"]) == (1, 0)
    assert first["rejected_still_drafted_share"] == 0.0
    # drafting what the human approved: every triage, every recipient, every text; but it
    # drafts the rejected reply again, so the kinds of that item differ
    assert second["triage_agreement"] == 1.0
    assert second["action_kind_agreement"] == 0.8
    assert second["recipient_agreement"] == 1.0
    assert second["draft_similarity"] == 1.0
    assert second["rejected_still_drafted_share"] == 1.0
    assert (first["requests"], second["requests"]) == (5, 5)
    assert first["requests_per_item"] == 1.0
    assert second["input_tokens"] > 0 and second["output_tokens"] > 0


async def test_each_item_keeps_the_approved_action_and_what_the_replay_drafted(
    settings: Settings, engine: Engine, clock: FrozenClock, inbox: list[int]
) -> None:
    run = await replay_inbox(
        settings, engine, clock, Setup("ignores", PlannedModel(ignores_everything).model)
    )

    edited = run.results["ignores"][1].as_json()
    assert edited["item_id"] == inbox[1]
    assert edited["expected_actions"] == [
        {
            "kind": "reply_email",
            "decision": "edited",
            "arguments": {
                "to": ["lee@example.org"],
                "cc": [],
                "subject": "Re: The Q3 numbers",
                "body": "Yes, you will have them on Monday.",
                "attachments": [],
            },
        }
    ]
    assert edited["drafts"] == []
    assert edited["disagreements"] == ["triage", "action kinds", "recipients"]
    assert (edited["triage"]["expected"], edited["triage"]["replayed"]) == ("act", "ignore")


async def test_a_similar_draft_scores_its_difflib_ratio_to_the_approved_text(
    settings: Settings, engine: Engine, clock: FrozenClock, inbox: list[int]
) -> None:
    def close(subject: str, info: object) -> tuple[str, str | None]:
        if subject == "The Q3 numbers":
            return "act", "Yes, you will have them on Tuesday."
        return as_the_human_did(subject, info)  # type: ignore[arg-type]

    run = await replay_inbox(settings, engine, clock, Setup("close", PlannedModel(close).model))

    ratio = difflib.SequenceMatcher(
        None, "Yes, you will have them on Tuesday.", "Yes, you will have them on Monday."
    ).ratio()
    by_item = {result.item_id: result for result in run.results["close"]}
    assert by_item[inbox[1]].agreement.similarity == pytest.approx(ratio, abs=1e-4)
    assert run.totals[0].draft_similarity == pytest.approx((1.0 + ratio) / 2, abs=1e-4)


async def test_progress_is_reported_after_each_item_of_each_model(
    settings: Settings, engine: Engine, clock: FrozenClock, inbox: list[int]
) -> None:
    calls: list[tuple[str, int, int]] = []
    setups = [
        Setup("ignores", PlannedModel(ignores_everything).model),
        Setup("as-the-human", PlannedModel(as_the_human_did).model),
    ]

    await run_eval(
        setups,
        EvalOptions(limit=2),
        settings=settings,
        engine=engine,
        clock=clock,
        tracing=None,
        progress=lambda model, done, total: calls.append((model, done, total)),
    )

    assert calls == [
        ("ignores", 1, 2),
        ("ignores", 2, 2),
        ("as-the-human", 1, 2),
        ("as-the-human", 2, 2),
    ]


async def test_a_run_that_fails_counts_as_disagreeing_and_the_replay_goes_on(
    settings: Settings, engine: Engine, clock: FrozenClock, inbox: list[int]
) -> None:
    def chatty(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("I would rather chat.")])  # never a triage

    run = await replay_inbox(settings, engine, clock, Setup("chatty", FunctionModel(chatty)))

    totals = run.totals[0]
    assert (totals.items, totals.errors) == (5, 5)
    assert (totals.triage_agreement, totals.action_kind_agreement) == (0.0, 0.0)
    assert (totals.recipient_agreement, totals.draft_similarity) == (0.0, 0.0)
    result = run.results["chatty"][0]
    assert result.error is not None and "the agent run failed" in result.error
    assert result.as_json()["disagreements"] == ["failed"]


def test_drafts_pair_with_approved_actions_first_then_count_against_rejected_ones() -> None:
    reply = {"to": ["dana@example.com"], "subject": "Re: x", "body": "Friday works."}
    expected = ExpectedOutput.model_validate(
        {
            "triage": {"decision": "act"},
            "actions": [{"kind": "reply_email", "decision": "approved", "arguments": reply}],
            "declined": [
                {"kind": "reply_email", "decision": "rejected", "arguments": reply},
                {"kind": "write_note", "decision": "feedback", "arguments": {}},
            ],
        }
    )
    wrong_person = {**reply, "to": ["lee@example.org"], "body": "Friday works!"}
    drafts = [
        ReplayedAction("reply_email", wrong_person),
        ReplayedAction("reply_email", reply),
    ]

    agreement = compare(expected, "act", drafts)

    assert agreement.triage is True
    assert agreement.kinds is False  # two replies drafted, one approved
    assert agreement.recipients is True  # the closest draft is paired: the exact one
    assert agreement.similarity == 1.0
    assert (agreement.rejected, agreement.still_drafted) == (1, 1)  # feedback is not "not wanted"
    assert agreement.disagreements == ["action kinds", "drafts what the human rejected"]
