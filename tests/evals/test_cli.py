"""`ambient eval run` and `ambient eval failures` on the command line: models side by side in a
table or as JSON, reports with each draft's diff, and the failures as a dataset to replay."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pydantic_ai.models import Model
from rich.console import Console

from ambient.core.config import Secrets, Settings
from ambient.evals.dataset import read_dataset
from ambient.runtime import Runtime
from tests.conftest import CommandLine
from tests.evals.conftest import (
    INBOX,
    Mail,
    PlannedModel,
    as_the_human_did,
    decide,
    ignores_everything,
)

RUN_KEYS = {
    "started_at", "source", "dataset", "items", "memory", "examples", "models", "results",
    "langfuse", "tracing", "ambient_version", "report", "autonomy",
}  # fmt: skip
TOTALS_KEYS = {
    "model", "items", "errors", "triage_agreement", "action_kind_agreement",
    "recipient_agreement", "draft_similarity", "rejected", "rejected_still_drafted",
    "rejected_still_drafted_share", "requests", "input_tokens", "output_tokens",
    "requests_per_item", "input_tokens_per_item", "output_tokens_per_item", "seconds",
    "seconds_per_item",
}  # fmt: skip


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch) -> dict[str, PlannedModel]:
    """--model NAME resolves to these (and the configured model to the first)."""
    planned = {
        "ignores": PlannedModel(ignores_everything),
        "as-the-human": PlannedModel(as_the_human_did),
    }

    def resolve(value: str, settings: Settings, secrets: Secrets, *, setting: str) -> Model:
        assert setting == "--model"
        return planned[value].model

    monkeypatch.setattr("ambient.models.resolve.model_from_string", resolve)
    monkeypatch.setattr(Runtime, "model", property(lambda runtime: planned["ignores"].model))
    return planned


def test_eval_run_compares_models_side_by_side_with_stable_json_keys(
    cli: CommandLine, inbox: list[int], models: dict[str, PlannedModel]
) -> None:
    code, output = cli.json("eval", "run", "--model", "ignores", "--model", "as-the-human")

    assert code == 0
    assert set(output) == RUN_KEYS
    assert [totals["model"] for totals in output["models"]] == ["ignores", "as-the-human"]
    assert all(set(totals) == TOTALS_KEYS for totals in output["models"])
    assert [t["triage_agreement"] for t in output["models"]] == [0.2, 1.0]
    assert len(output["results"]["as-the-human"]) == 5
    assert (output["source"], output["items"], output["examples"]) == ("ledger", 5, "ledger")


def test_eval_run_prints_a_table_and_says_it_was_not_recorded(
    cli: CommandLine, inbox: list[int], models: dict[str, PlannedModel]
) -> None:
    code, output = cli.run("eval", "run", "--model", "ignores", "--model", "as-the-human")

    assert code == 0
    text = " ".join(output.split())
    assert "ignores" in text and "as-the-human" in text
    assert "triage agreement │ 20% │ 100%" in text
    assert "action kinds agreement │ 60% │ 80%" in text
    assert "rejected drafts drafted again │ 0/1 │ 1/1" in text
    assert "nothing was queued or sent" in text
    assert "not recorded in Langfuse: tracing to Langfuse is off" in text


def test_eval_run_defaults_to_the_configured_model(
    cli: CommandLine, inbox: list[int], models: dict[str, PlannedModel], settings: Settings
) -> None:
    code, output = cli.json("eval", "run", "--limit", "2")

    assert code == 0
    assert [totals["model"] for totals in output["models"]] == [settings.model_name]
    assert [r["item_id"] for r in output["results"][settings.model_name]] == inbox[3:]


def test_since_and_limit_choose_the_newest_items(
    cli: CommandLine, inbox: list[int], models: dict[str, PlannedModel]
) -> None:
    # the inbox arrived an hour apart from 09:00 on 2026-11-24
    code, output = cli.json("eval", "run", "--model", "ignores", "--since", "2026-11-24T11:00")
    assert code == 0 and [r["item_id"] for r in output["results"]["ignores"]] == inbox[2:]

    code, output = cli.json(
        "eval", "run", "--model", "ignores", "--since", "2026-11-24T11:00", "--limit", "1"
    )
    assert [r["item_id"] for r in output["results"]["ignores"]] == inbox[4:]

    code, output = cli.run("eval", "run", "--since", "next week")
    assert code == 2 and "--since 'next week': expected a date" in output


def test_a_model_given_twice_is_refused(
    cli: CommandLine, inbox: list[int], models: dict[str, PlannedModel]
) -> None:
    code, output = cli.run("eval", "run", "--model", "ignores", "--model", "ignores")
    assert code == 2 and "--model ignores: given twice" in output


def test_a_report_shows_each_draft_against_the_approved_text_escaped_in_html(
    cli: CommandLine,
    settings: Settings,
    engine: object,
    clock: object,
    models: dict[str, PlannedModel],
    tmp_path: Path,
) -> None:
    tagged = Mail(
        "Tags <b>bold</b> & more",
        drafted="<script>alert(1)</script>",
        decision=INBOX[0].decision,
    )
    decide(engine, clock, settings, [INBOX[0], INBOX[1], tagged])  # type: ignore[arg-type]

    def close(subject: str, info: object) -> tuple[str, str | None]:
        if subject == "The Q3 numbers":
            return "act", "Yes, you will have them on Tuesday."
        if subject.startswith("Tags"):
            return "act", "<i>not quite</i>"
        return as_the_human_did(subject, info)  # type: ignore[arg-type]

    models["close"] = PlannedModel(close)
    markdown, page = tmp_path / "eval.md", tmp_path / "eval.html"

    assert cli.run("eval", "run", "--model", "close", "--report", str(markdown))[0] == 0
    code, output = cli.json("eval", "run", "--model", "close", "--report", str(page))
    assert code == 0 and output["report"] == str(page)

    text = markdown.read_text()
    assert "| triage agreement | 100% |" in text
    assert "difflib.SequenceMatcher ratio" in text
    assert "-Yes, you will have them on Tuesday.\n+Yes, you will have them on Monday." in text
    assert "(the same text)" in text  # the meeting reply, drafted as approved
    html = page.read_text()
    assert "<script>" not in html and "<b>bold" not in html and "<i>not" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Tags &lt;b&gt;bold&lt;/b&gt; &amp; more" in html

    code, output = cli.run("eval", "run", "--report", str(tmp_path / "eval.pdf"))
    assert code == 2 and "expected a .md or .html file" in output


def test_eval_failures_lists_and_exports_corrections_and_the_last_runs_disagreements(
    cli: CommandLine, settings: Settings, inbox: list[int], models: dict[str, PlannedModel]
) -> None:
    code, before_any_run = cli.json("eval", "failures")
    assert code == 0 and before_any_run["last_run"] is None
    assert [(f["item_id"], f["reasons"]) for f in before_any_run["failures"]] == [
        (inbox[1], ["edited reply_email"]),
        (inbox[3], ["rejected reply_email"]),
    ]
    assert cli.json("eval", "run", "--model", "ignores")[0] == 0

    code, output = cli.json("eval", "failures")

    assert code == 0 and output["last_run"] is not None
    assert [(f["item_id"], f["reasons"]) for f in output["failures"]] == [
        (inbox[0], ["ignores: triage, action kinds, recipients"]),
        (inbox[1], ["edited reply_email", "ignores: triage, action kinds, recipients"]),
        (inbox[3], ["rejected reply_email", "ignores: triage"]),
        (inbox[4], ["ignores: triage"]),
    ]
    path = Path(output["path"])
    assert path == settings.data_dir / "eval" / "failures.jsonl"
    rows = read_dataset(path)
    assert [row.item_id for row in rows] == [inbox[0], inbox[1], inbox[3], inbox[4]]
    assert rows[2].metadata["failure"] == ["rejected reply_email", "ignores: triage"]

    code, replayed = cli.json("eval", "run", "--model", "as-the-human", "--dataset", str(path))
    assert code == 0 and replayed["items"] == 4 and replayed["examples"] == "dataset"

    # the last run is now that replay: it only drafted the rejected reply again
    code, text = cli.run("eval", "failures", "--output", str(path.with_name("mine.jsonl")))
    assert code == 0 and "2 failure(s)" in text
    assert len(path.with_name("mine.jsonl").read_text().splitlines()) == 2
    code, output = cli.json("eval", "failures")
    assert output["failures"][1]["reasons"] == [
        "rejected reply_email",
        "as-the-human: action kinds, drafts what the human rejected",
    ]


def test_the_last_run_keeps_each_expected_action_for_per_class_agreement(
    cli: CommandLine, settings: Settings, inbox: list[int], models: dict[str, PlannedModel]
) -> None:
    assert cli.json("eval", "run", "--model", "as-the-human")[0] == 0

    stored = json.loads((settings.data_dir / "eval" / "last-run.json").read_text())

    (approved, *_rest) = stored["results"]["as-the-human"]
    assert approved["expected_actions"][0]["arguments"]["to"] == ["dana@example.com"]
    assert approved["drafts"][0]["kind"] == "reply_email"
    assert approved["recipients_agree"] is True


def test_on_a_terminal_a_progress_bar_runs_on_stderr_and_never_on_a_pipe(
    cli: CommandLine,
    inbox: list[int],
    models: dict[str, PlannedModel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ambient.cli import evals

    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, width=80)
    monkeypatch.setattr(evals, "error_console", console)

    code, output = cli.json("eval", "run", "--model", "ignores")

    assert code == 0 and output["items"] == 5  # stdout stays JSON
    assert "ignores" in terminal.getvalue() and "5/5" in terminal.getvalue()
