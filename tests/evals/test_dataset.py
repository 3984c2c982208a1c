"""The dataset schema: `eval export` writes it, `eval run --dataset` reads it (the same figures
as replaying the ledger), hand-written rows need little, and a bad row is named precisely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ambient.core.config import Settings
from ambient.core.errors import InputError
from ambient.evals.dataset import SCHEMA_VERSION, DatasetRow, read_dataset
from ambient.evals.export import run_eval_export
from ambient.evals.replay import Setup
from ambient.evals.run import EvalOptions, run_eval
from ambient.runtime import Runtime
from tests.conftest import FrozenClock
from tests.daemon.mail import email_bytes
from tests.evals.conftest import INBOX, PlannedModel, as_the_human_did


def test_the_export_writes_rows_of_the_documented_schema(
    runtime: Runtime, settings: Settings, inbox: list[int]
) -> None:
    report = run_eval_export(runtime.engine, runtime.tracing, settings)

    rows = read_dataset(report.path)  # strict: an unknown key would be an error
    assert [row.item_id for row in rows] == inbox
    assert {row.metadata["schema_version"] for row in rows} == {SCHEMA_VERSION}
    edited = rows[1]
    assert edited.input.sender == "Lee <lee@example.org>"
    assert edited.input.text == INBOX[1].body  # the whole text: enough to rebuild the message
    assert edited.input.message_id == "<m2@example.com>"
    (action,) = edited.expected_output.actions
    assert (action.decision, action.arguments["body"]) == ("edited", INBOX[1].edited)
    assert action.drafted_arguments is not None and action.drafted_arguments["body"] == "Sure."
    assert rows[3].expected_output.declined[0].decision == "rejected"
    assert rows[2].received_at is not None


async def test_a_dataset_round_trip_replays_to_the_same_figures_as_the_ledger(
    runtime: Runtime, settings: Settings, engine: Engine, clock: FrozenClock, inbox: list[int]
) -> None:
    path = run_eval_export(runtime.engine, runtime.tracing, settings).path
    human = PlannedModel(as_the_human_did)

    async def replay(**options: object) -> dict[str, object]:
        run = await run_eval(
            [Setup("as-the-human", human.model)],
            EvalOptions(**options),  # type: ignore[arg-type]
            settings=settings,
            engine=engine,
            clock=clock,
            tracing=None,
        )
        totals = run.totals[0].as_json()
        return {key: value for key, value in totals.items() if "seconds" not in key}

    from_ledger = await replay()
    ledger_seen = list(human.seen)
    human.seen.clear()
    from_file = await replay(dataset=path)

    assert from_file == from_ledger
    assert from_file["triage_agreement"] == 1.0
    assert human.seen == ledger_seen  # the same prompts: the same messages, memory and examples


def write_rows(path: Path, *rows: object) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


async def test_a_hand_written_row_needs_only_an_id_and_the_message(
    tmp_path: Path, settings: Settings, engine: Engine, clock: FrozenClock
) -> None:
    raw = email_bytes("Meeting on Friday?", body="Can we meet?").decode()
    path = write_rows(
        tmp_path / "mine.jsonl",
        {
            "id": "raw-1",
            "input": {"raw": raw},
            "expected_output": {
                "triage": {"decision": "act"},
                "actions": [
                    {
                        "kind": "reply_email",
                        "decision": "approved",
                        "arguments": INBOX[0].reply("Friday at 10 works."),
                    }
                ],
            },
        },
        {
            "id": "headers-1",
            "input": {
                "subject": "Weekly newsletter",
                "sender": "News <news@example.net>",
                "attachments": ["a.pdf"],
            },
            "expected_output": {"triage": {"decision": "ignore"}},
        },
    )

    run = await run_eval(
        [Setup("as-the-human", PlannedModel(as_the_human_did).model)],
        EvalOptions(dataset=path),
        settings=settings,
        engine=engine,
        clock=clock,
        tracing=None,
    )

    assert [result.item_id for result in run.results["as-the-human"]] == [1, 2]
    assert run.totals[0].triage_agreement == 1.0
    assert run.totals[0].recipient_agreement == 1.0
    assert (run.source, run.dataset, run.examples) == (str(path), "mine", "dataset")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"input": {}}, ":2: id: Field required"),
        ({"id": "x", "input": {"from": "dana@example.com"}}, ":2: input.from: unknown field"),
        (
            {
                "id": "x",
                "input": {},
                "expected_output": {"actions": [{"kind": "reply_email", "decision": "rejected"}]},
            },
            "actions[0].decision: 'rejected' belongs in declined",
        ),
        ({"id": "x", "input": {}, "metadata": {"schema_version": 99}}, "schema_version 99"),
        ({"id": "a", "input": {}}, ":2: id 'a' is already on line 1"),
        ("not an object", ":2: expected a JSON object, got str"),
    ],
)
def test_a_bad_row_is_named_by_file_line_and_field(
    tmp_path: Path, row: object, message: str
) -> None:
    path = write_rows(tmp_path / "bad.jsonl", {"id": "a", "input": {}}, row)

    with pytest.raises(InputError) as raised:
        read_dataset(path)

    assert f"{path}" in str(raised.value) and message in str(raised.value)


def test_a_row_round_trips_through_its_json(tmp_path: Path) -> None:
    row = DatasetRow.model_validate(
        {"id": "x", "input": {"subject": "Hi"}, "metadata": {"k": None}}
    )
    assert DatasetRow.model_validate(row.to_json()) == row
    assert row.to_json()["metadata"] == {"k": None}
