"""`ambient eval run`: decided items replayed with other models or memory, side by side.

The items are the decided ones `eval export` would write (from the ledger), or the rows of a
JSONL dataset in the same schema; ``since`` keeps those that arrived on or after a time, and
``limit`` the newest N of them. Each model replays every item (see ``replay``: no side
effects) on a copy of the memory folder, or of one of its commits; the few-shot examples come
from the ledger, or from the dataset's own earlier rows, or none. The run is kept as
``<data>/eval/last-run.json`` (what `eval failures` reads) and, with Langfuse configured,
recorded there as one experiment per model.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from ambient import __version__
from ambient.agent.examples import ExampleSource, LedgerExamples
from ambient.core.clock import Clock, utc
from ambient.core.config import Settings
from ambient.core.errors import AmbientError, InputError
from ambient.evals import DEFAULT_DATASET
from ambient.evals.dataset import DatasetRow, read_dataset
from ambient.evals.dataset_examples import DatasetExamples
from ambient.evals.experiment import ExperimentRecord, record_experiments
from ambient.evals.export import decided_examples
from ambient.evals.replay import Case, Progress, Setup, cases_from, replay
from ambient.evals.results import ItemResult, ModelTotals, totals
from ambient.evals.workspace import MemorySnapshot, memory_snapshot
from ambient.tracing.redaction import Redactor

if TYPE_CHECKING:
    from ambient.tracing.assembly import Tracing

log = logging.getLogger(__name__)

LAST_RUN = "last-run.json"


@dataclass(frozen=True)
class EvalOptions:
    memory_at: str | None = None
    since: datetime | None = None
    limit: int | None = None
    dataset: Path | None = None  # None: the ledger's decided items
    examples: bool = True


@dataclass
class EvalRun:
    """A finished run: every model's results and totals, and where it was recorded."""

    started_at: datetime
    source: str  # "ledger" or the dataset file
    dataset: str  # the Langfuse dataset's name
    memory: MemorySnapshot
    examples: str  # "ledger", "dataset" or "off"
    results: dict[str, list[ItemResult]]
    rows: list[DatasetRow]
    totals: list[ModelTotals] = field(default_factory=list)
    experiments: list[ExperimentRecord] = field(default_factory=list)
    tracing: str = ""  # why the run was (not) recorded in Langfuse

    def as_json(self) -> dict[str, Any]:
        """Stable keys for scripts (and the file `eval failures` reads)."""
        return {
            "started_at": self.started_at.isoformat(),
            "source": self.source,
            "dataset": self.dataset,
            "items": len(self.rows),
            "memory": {**self.memory.as_json(), "label": self.memory.label},
            "examples": self.examples,
            "models": [item.as_json() for item in self.totals],
            "results": {
                model: [result.as_json() for result in results]
                for model, results in self.results.items()
            },
            "langfuse": [record.as_json() for record in self.experiments] or None,
            "tracing": self.tracing,
            "ambient_version": __version__,
        }

    def failures(self) -> list[tuple[DatasetRow, dict[str, list[str]]]]:
        """Rows some model disagreed on, with what each model got wrong."""
        found = []
        for row in self.rows:
            reasons = {
                model: (["failed"] if result.error else result.agreement.disagreements)
                for model, results in self.results.items()
                for result in results
                if result.example_id == row.id and result.failed
            }
            if reasons:
                found.append((row, reasons))
        return found


def parse_since(text: str) -> datetime:
    """`YYYY-MM-DD` or an ISO date and time (UTC unless it says otherwise)."""
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError:
        raise InputError(
            f"--since {text!r}: expected a date (YYYY-MM-DD) or an ISO date and time"
        ) from None


def select_rows(rows: Sequence[DatasetRow], options: EvalOptions) -> list[DatasetRow]:
    """`since` (rows that arrived then or later; rows with no date are left out) and `limit`
    (the newest N), in the rows' order."""
    chosen = list(rows)
    if options.since is not None:
        since = options.since
        chosen = [row for row in chosen if (at := row.received_at) and utc(at) >= since]
    if options.limit is not None:
        newest = {case.row.id for case in cases_from(chosen)[-options.limit :]}
        chosen = [row for row in chosen if row.id in newest] if options.limit > 0 else []
    return chosen


def ledger_rows(engine: Engine) -> list[DatasetRow]:
    """The ledger's decided items as dataset rows, unredacted (they stay on this machine)."""
    examples = decided_examples(engine, Redactor(), DEFAULT_DATASET)
    return [DatasetRow.model_validate(asdict(example)) for example in examples]


def _example_source(
    options: EvalOptions, settings: Settings, engine: Engine, cases: Sequence[Case]
) -> tuple[ExampleSource | None, str]:
    """Where the few-shot examples come from, and its name ("off": none, by the option or
    because `agent.examples` is 0)."""
    if not options.examples or settings.agent.examples <= 0:
        return None, "off"
    if options.dataset is not None:
        return DatasetExamples(cases), "dataset"
    return LedgerExamples(engine), "ledger"


def last_run_path(settings: Settings) -> Path:
    return settings.data_dir / "eval" / LAST_RUN


def save_last_run(run: EvalRun, path: Path) -> None:
    """The run and the rows it failed on (for `eval failures`), written atomically."""
    document = run.as_json()
    document["failures"] = [
        {"row": row.to_json(), "reasons": reasons} for row, reasons in run.failures()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    temporary.replace(path)


async def run_eval(
    setups: Sequence[Setup],
    options: EvalOptions,
    *,
    settings: Settings,
    engine: Engine,
    clock: Clock,
    tracing: Tracing | None,
    progress: Progress | None = None,
) -> EvalRun:
    """What `ambient eval run` does. `tracing`: where to record the run (None: nowhere)."""
    started_at = clock.now()
    if options.dataset is not None:
        rows = read_dataset(options.dataset)
        source, dataset = str(options.dataset), options.dataset.stem
    else:
        rows = await asyncio.to_thread(ledger_rows, engine)
        source, dataset = "ledger", DEFAULT_DATASET
    rows = select_rows(rows, options)
    cases = cases_from(rows)
    examples, examples_label = _example_source(options, settings, engine, cases)
    with memory_snapshot(settings.memory_dir, options.memory_at) as memory:
        results = await replay(
            cases,
            setups,
            settings=settings,
            memory=memory.store,
            clock=clock,
            examples=examples,
            progress=progress,
        )
    ordered = [case.row for case in cases]
    run = EvalRun(started_at, source, dataset, memory, examples_label, results, ordered)
    run.totals = [totals(setup.label, results[setup.label]) for setup in setups]
    await _record(run, tracing)
    save_last_run(run, last_run_path(settings))
    return run


async def _record(run: EvalRun, tracing: Tracing | None) -> None:
    if tracing is None or tracing.langfuse is None:
        reason = tracing.connection.reason if tracing is not None else ""
        run.tracing = reason or "tracing to Langfuse is off"
        return
    if not run.rows:
        run.tracing = "nothing replayed: no experiment recorded"
        return
    metadata = {
        "memory": run.memory.commit or "none",
        "examples": run.examples,
        "replayed_from": run.source,
        "ambient_version": __version__,
    }
    name = f"ambient eval {run.started_at:%Y-%m-%dT%H:%M:%SZ}"
    try:
        run.experiments = await asyncio.to_thread(
            record_experiments,
            tracing,
            run.dataset,
            run.rows,
            run.results,
            run.totals,
            run_name=name,
            metadata=metadata,
        )
    except AmbientError as error:  # the replay stands; say what was not recorded
        log.warning("eval run: %s", error)
        run.tracing = str(error)
        return
    forwarder = tracing.forwarder()  # send the experiment's spans now (the daemon: the rest)
    if forwarder is not None:
        try:
            await forwarder.tick()
        finally:
            await forwarder.aclose()
    run.tracing = f"recorded in Langfuse dataset {run.dataset!r}"


def load_last_run(settings: Settings) -> dict[str, Any] | None:
    """The last run's document (see :func:`save_last_run`), None if there is none."""
    path = last_run_path(settings)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise AmbientError(f"{path}: cannot be read: {error}") from error
    return document if isinstance(document, dict) else None
