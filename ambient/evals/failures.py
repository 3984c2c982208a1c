"""`ambient eval failures`: the cases where the agent got it wrong, as a dataset to replay.

Two kinds of failure, joined per item: what the **human** said was wrong (every decided item
with a draft they edited, answered with feedback, rejected or ignored, from the ledger), and
what the **last** `eval run` disagreed on (``<data>/eval/last-run.json``: a model's triage,
action kinds or recipients differed, it drafted again what the human rejected, or its run
failed). The rows are written in the dataset schema (``evals.dataset``), redacted like `eval
export`, each with ``metadata.failure`` saying why; `eval run --dataset` replays them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ambient.core.config import Settings
from ambient.evals.dataset import DatasetRow, parse_row, write_dataset
from ambient.evals.run import last_run_path, ledger_rows, load_last_run
from ambient.tracing.redaction import Redactor

FAILURES_FILE = "failures.jsonl"


@dataclass(frozen=True)
class Failure:
    row: DatasetRow
    reasons: tuple[str, ...]

    @property
    def item_id(self) -> int | None:
        return self.row.item_id

    def as_json(self) -> dict[str, Any]:
        return {
            "example_id": self.row.id,
            "item_id": self.item_id,
            "subject": self.row.input.subject,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class FailureReport:
    failures: list[Failure]
    path: Path
    last_run: str | None  # when the last `eval run` started (None: there was none)

    def as_json(self) -> dict[str, Any]:
        return {
            "count": len(self.failures),
            "path": str(self.path),
            "last_run": self.last_run,
            "failures": [failure.as_json() for failure in self.failures],
        }


def human_reasons(row: DatasetRow) -> list[str]:
    """What the human changed or turned down on the item's drafts."""
    expected = row.expected_output
    reasons = [
        f"edited {action.kind}" for action in expected.actions if action.decision == "edited"
    ]
    for action in expected.declined:
        if action.decision == "feedback":
            reasons.append(f"feedback on {action.kind}")
        else:
            reasons.append(f"{action.decision} {action.kind}")
    return reasons


def _last_run_failures(document: dict[str, Any], path: Path) -> list[tuple[DatasetRow, list[str]]]:
    found = []
    for number, entry in enumerate(document.get("failures") or [], start=1):
        row = parse_row(entry.get("row"), f"{path}: failures[{number}]")
        reasons = entry.get("reasons") or {}
        found.append(
            (row, [f"{model}: {', '.join(wrong)}" for model, wrong in sorted(reasons.items())])
        )
    return found


def collect_failures(engine: Engine, settings: Settings) -> tuple[list[Failure], str | None]:
    """The ledger's human corrections and the last run's disagreements, one per item."""
    joined: dict[str, tuple[DatasetRow, list[str]]] = {}
    for row in ledger_rows(engine):
        reasons = human_reasons(row)
        if reasons:
            joined[row.id] = (row, reasons)
    document = load_last_run(settings)
    if document is not None:
        for row, reasons in _last_run_failures(document, last_run_path(settings)):
            kept, earlier = joined.get(row.id, (row, []))
            joined[row.id] = (kept, [*earlier, *reasons])
    failures = [Failure(row, tuple(reasons)) for row, reasons in joined.values()]
    failures.sort(key=lambda failure: (failure.item_id is None, failure.item_id or 0))
    started = document.get("started_at") if document is not None else None
    return failures, started if isinstance(started, str) else None


def export_failures(
    engine: Engine, settings: Settings, redactor: Redactor, path: Path | None = None
) -> FailureReport:
    """What `ambient eval failures` does: list them, and write them as a dataset."""
    failures, last_run = collect_failures(engine, settings)
    target = path or settings.data_dir / "eval" / FAILURES_FILE
    rows = []
    for failure in failures:
        values = failure.row.to_json()
        values["metadata"] = {**values["metadata"], "failure": list(failure.reasons)}
        rows.append(redactor.value(values))
    write_dataset(rows, target)
    return FailureReport(failures, target, last_run)
