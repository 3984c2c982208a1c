"""An eval run of the live setup is evidence for earned autonomy, per action class; a run with
another model or on part of the ledger (an experiment) changes nothing, nor does a class with
too few items in the run."""

from __future__ import annotations

import pytest
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo
from sqlalchemy import Engine

from ambient.approvals.tables import Decision
from ambient.core.config import Secrets, Settings
from ambient.runtime import Runtime
from tests.conftest import CommandLine, FrozenClock
from tests.evals.conftest import Mail, PlannedModel, decide, ignores_everything

DANA = "Dana <dana@example.com>"
MALLORY = "Mallory <mallory@evil.example>"
# three approved replies to Dana, three rejected ones to Mallory, one approved reply to Lee
MAILS = [
    *[Mail(f"Meeting {n}?", drafted="Yes, that works.", decision=Decision.APPROVED) for n in "ABC"],
    *[
        Mail(f"Password {n}", sender=MALLORY, drafted="Here.", decision=Decision.REJECTED)
        for n in "ABC"
    ],
    Mail("Numbers", sender="Lee <lee@example.org>", drafted="Sure.", decision=Decision.APPROVED),
]


@pytest.fixture
def decided(engine: Engine, clock: FrozenClock, settings: Settings) -> list[int]:
    return decide(engine, clock, settings, MAILS)


def replies_to_everyone(subject: str, info: AgentInfo) -> tuple[str, str | None]:
    return "act", "Yes, that works."


def configured(monkeypatch: pytest.MonkeyPatch, planned: PlannedModel) -> None:
    monkeypatch.setattr(Runtime, "model", property(lambda runtime: planned.model))


def agreement(cli: CommandLine) -> dict[str, float]:
    code, listing = cli.json("autonomy", "list")
    assert code == 0
    return {row["name"]: row["eval_agreement"] for row in listing["classes"]}


def test_a_replay_of_the_live_setup_records_each_class_agreement(
    cli: CommandLine, decided: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    configured(monkeypatch, PlannedModel(replies_to_everyone))

    code, output = cli.json("eval", "run")

    assert code == 0
    recorded = {row["name"]: row["eval_agreement"] for row in output["autonomy"]}
    # replies to Dana drafted again agree; the rejected replies to Mallory drafted again don't;
    # Lee's one item is too few to say anything
    assert recorded == {
        "reply_email:dana@example.com": 1.0,
        "reply_email:mallory@evil.example": 0.0,
    }
    assert agreement(cli) == recorded


def test_a_model_that_drafts_nothing_disagrees_on_approved_classes_only(
    cli: CommandLine, decided: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    configured(monkeypatch, PlannedModel(ignores_everything))

    code, output = cli.run("eval", "run")

    assert code == 0
    assert "autonomy evidence recorded for 2 class(es)" in " ".join(output.split())
    assert agreement(cli) == {
        "reply_email:dana@example.com": 0.0,
        "reply_email:mallory@evil.example": 1.0,
    }


def test_a_triage_that_disagrees_does_not_count_as_agreeing(
    cli: CommandLine, decided: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def notifies_but_drafts(subject: str, info: AgentInfo) -> tuple[str, str | None]:
        return "notify", None

    configured(monkeypatch, PlannedModel(notifies_but_drafts))

    code, _ = cli.json("eval", "run")

    assert code == 0
    assert agreement(cli)["reply_email:dana@example.com"] == 0.0


@pytest.mark.parametrize(
    "options",
    [["--model", "other"], ["--limit", "5"], ["--since", "2026-01-01"], ["--no-examples"]],
)
def test_an_experiment_or_a_part_of_the_ledger_records_nothing(
    cli: CommandLine, decided: list[int], monkeypatch: pytest.MonkeyPatch, options: list[str]
) -> None:
    planned = PlannedModel(replies_to_everyone)
    configured(monkeypatch, planned)

    def resolve(value: str, settings: Settings, secrets: Secrets, *, setting: str) -> Model:
        return planned.model

    monkeypatch.setattr("ambient.models.resolve.model_from_string", resolve)

    code, output = cli.json("eval", "run", *options)

    assert code == 0
    assert planned.seen  # it did replay
    assert output["autonomy"] is None
    assert agreement(cli) == {}
