"""An eval run of the live setup is evidence for earned autonomy, per action class; a run with
another model (an experiment) changes nothing."""

from __future__ import annotations

import pytest
from pydantic_ai.models import Model

from ambient.core.config import Secrets, Settings
from ambient.runtime import Runtime
from tests.conftest import CommandLine
from tests.evals.conftest import PlannedModel, as_the_human_did, ignores_everything


def configured(monkeypatch: pytest.MonkeyPatch, planned: PlannedModel) -> None:
    monkeypatch.setattr(Runtime, "model", property(lambda runtime: planned.model))


def agreement(cli: CommandLine) -> dict[str, float]:
    code, listing = cli.json("autonomy", "list")
    assert code == 0
    return {row["name"]: row["eval_agreement"] for row in listing["classes"]}


def test_a_replay_of_the_live_setup_records_each_class_agreement(
    cli: CommandLine, inbox: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    configured(monkeypatch, PlannedModel(as_the_human_did))

    code, output = cli.json("eval", "run")

    assert code == 0
    recorded = {row["name"]: row["eval_agreement"] for row in output["autonomy"]}
    # approved and edited replies drafted again agree; the rejected reply drafted again doesn't
    assert recorded == {
        "reply_email:dana@example.com": 1.0,
        "reply_email:lee@example.org": 1.0,
        "reply_email:mallory@evil.example": 0.0,
    }
    assert agreement(cli) == recorded


def test_a_model_that_drafts_nothing_disagrees_on_approved_classes_only(
    cli: CommandLine, inbox: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    configured(monkeypatch, PlannedModel(ignores_everything))

    code, output = cli.run("eval", "run")

    assert code == 0
    assert "autonomy evidence recorded for 3 class(es)" in " ".join(output.split())
    assert agreement(cli) == {
        "reply_email:dana@example.com": 0.0,
        "reply_email:lee@example.org": 0.0,
        "reply_email:mallory@evil.example": 1.0,
    }


def test_an_experiment_with_another_model_records_nothing(
    cli: CommandLine, inbox: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = PlannedModel(as_the_human_did)

    def resolve(value: str, settings: Settings, secrets: Secrets, *, setting: str) -> Model:
        return planned.model

    monkeypatch.setattr("ambient.models.resolve.model_from_string", resolve)

    code, output = cli.json("eval", "run", "--model", "other")

    assert code == 0
    assert output["autonomy"] is None
    assert agreement(cli) == {}
