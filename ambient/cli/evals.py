"""`ambient` commands: eval: datasets from your decisions, replays, the failures."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from ambient.cli.output import console, error_console, print_json
from ambient.core.errors import InputError

if TYPE_CHECKING:
    from ambient.approvals.autonomy_status import ClassEvidence
    from ambient.evals.failures import FailureReport
    from ambient.evals.replay import Progress, Setup
    from ambient.evals.run import EvalRun
    from ambient.runtime import Runtime


def _cmd_eval_export(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.evals.export import run_eval_export

    report = run_eval_export(
        runtime.engine, runtime.tracing, runtime.settings, dataset=args.dataset, path=args.output
    )
    if args.json:
        print_json(report.as_json())
        return 0
    console.print(f"[green]exported[/] {report.examples} decided item(s) to {report.path}")
    if report.langfuse_url:
        console.print(f"Langfuse dataset {report.dataset!r}: {report.uploaded} item(s)")
    else:
        console.print(f"only the local file was written: {report.tracing}")
    return 0


def setups(names: Sequence[str], runtime: Runtime) -> list[Setup]:
    """The models to compare, each named by its model string (none given: the configured
    model, with its fallback)."""
    from ambient.agent.runner import configured_model
    from ambient.evals.replay import Setup
    from ambient.models.resolve import model_from_string

    settings = runtime.settings
    if not names:
        return [Setup(configured_model(settings), runtime.model)]
    chosen: list[Setup] = []
    for name in names:
        label = name.strip() or "local"
        if any(setup.label == label for setup in chosen):
            raise InputError(f"--model {name}: given twice")
        model = model_from_string(name, settings, runtime.secrets, setting="--model")
        chosen.append(Setup(label, model))
    return chosen


@contextmanager
def progress_bar() -> Iterator[Progress | None]:
    """A Rich progress bar per model on stderr, only on a terminal."""
    if not error_console.is_terminal:
        yield None
        return
    from rich import progress

    columns = (
        progress.TextColumn("{task.description}"),
        progress.BarColumn(),
        progress.MofNCompleteColumn(),
    )
    with progress.Progress(*columns, console=error_console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(model: str, done: int, total: int) -> None:
            if model not in tasks:
                tasks[model] = bar.add_task(model, total=total)
            bar.update(tasks[model], completed=done)

        yield update


def totals_table(run: EvalRun) -> Table:
    from ambient.evals.report import TOTAL_ROWS, total_cells

    table = Table("")
    for totals in run.totals:
        table.add_column(Text(totals.model))
    for row in TOTAL_ROWS:
        table.add_row(row.heading, *total_cells(row, run.totals))
    return table


def print_run(run: EvalRun, report: Path | None) -> None:
    console.print(totals_table(run))
    what = f"{len(run.rows)} decided item(s) from {run.source}; memory: {run.memory.label}"
    console.print(Text(f"{what}; examples: {run.examples}; nothing was queued or sent"))
    for record in run.experiments:
        where = f": {record.url}" if record.url else ""
        console.print(
            Text(f"Langfuse experiment {record.run_name!r} ({record.items} item(s)){where}")
        )
    if not run.experiments:
        console.print(Text(f"not recorded in Langfuse: {run.tracing}"))
    if report is not None:
        console.print(Text(f"report: {report}"))


def _cmd_eval_run(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.evals.report import check_report_path, write_report
    from ambient.evals.run import EvalOptions, parse_since, run_eval

    if args.report is not None:
        check_report_path(args.report)
    options = EvalOptions(
        memory_at=args.memory_at,
        since=parse_since(args.since) if args.since else None,
        limit=args.limit,
        dataset=args.dataset,
        examples=not args.no_examples,
    )
    chosen = setups(args.model, runtime)
    with progress_bar() as progress:
        run = asyncio.run(
            run_eval(
                chosen,
                options,
                settings=runtime.settings,
                engine=runtime.engine,
                clock=runtime.clock,
                tracing=runtime.tracing,
                progress=progress,
            )
        )
    report = write_report(run, args.report) if args.report is not None else None
    evidence = autonomy_evidence(args, run, runtime)
    if args.json:
        classes = None if evidence is None else [item.as_json() for item in evidence]
        print_json(
            {**run.as_json(), "report": str(report) if report else None, "autonomy": classes}
        )
        return 0
    print_run(run, report)
    if evidence:
        names = ", ".join(
            f"{item.name} {item.eval_agreement:.0%}"
            for item in evidence
            if item.eval_agreement is not None
        )
        console.print(Text(f"autonomy evidence recorded for {len(evidence)} class(es): {names}"))
    return 0


def autonomy_evidence(
    args: argparse.Namespace, run: EvalRun, runtime: Runtime
) -> list[ClassEvidence] | None:
    """A replay of the live setup (configured model, memory as it is, examples as configured,
    all of the ledger's decided items) is recorded as each action class's eval agreement; any
    other run (another model or memory, a dataset, a part of the ledger) is an experiment and
    changes nothing (None)."""
    from ambient.evals.autonomy_evidence import record_class_agreement

    experiment = args.model or args.memory_at or args.dataset or args.no_examples
    if experiment or args.since or args.limit or len(run.totals) != 1:
        return None
    return record_class_agreement(run.results[run.totals[0].model], runtime.autonomy)


def print_failures(report: FailureReport) -> None:
    table = Table("item", "subject", "why")
    for failure in report.failures:
        table.add_row(
            str(failure.item_id or "-"),
            Text(failure.row.input.subject),
            Text("; ".join(failure.reasons)),
        )
    console.print(table)
    since = f"the last eval run ({report.last_run})" if report.last_run else "no eval run yet"
    console.print(Text(f"{len(report.failures)} failure(s) from your decisions and {since}"))
    console.print(Text(f"written as a dataset to {report.path} (ambient eval run --dataset FILE)"))


def _cmd_eval_failures(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.evals.failures import export_failures

    report = export_failures(
        runtime.engine, runtime.settings, runtime.tracing.redactor, args.output
    )
    if args.json:
        print_json(report.as_json())
    else:
        print_failures(report)
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def add_eval_commands(subparsers: Any) -> None:
    from ambient.evals import DEFAULT_DATASET

    evaluation = subparsers.add_parser("eval", help="evaluation datasets from your decisions")
    eval_sub = evaluation.add_subparsers(dest="eval_command", required=True)
    export = eval_sub.add_parser(
        "export",
        help="decided items (triage and decisions; none still waiting) -> a Langfuse dataset "
        "and a local JSONL file",
    )
    export.add_argument("--dataset", default=DEFAULT_DATASET, help="the dataset's name")
    export.add_argument(
        "--output", type=Path, default=None, help="JSONL path (default: <data>/eval/NAME.jsonl)"
    )
    export.add_argument("--json", action="store_true")
    export.set_defaults(handler=_cmd_eval_export)

    run = eval_sub.add_parser(
        "run",
        help="replay decided items with the agent (other models, other memory) and compare "
        "with your decisions; queues, sends and writes nothing",
    )
    run.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="MODEL",
        help="a model string as AMBIENT_MODEL takes it; repeat to compare (default: the "
        "configured model)",
    )
    run.add_argument("--memory-at", metavar="COMMIT", help="replay with the memory of this commit")
    run.add_argument(
        "--since", metavar="DATE", help="only items that arrived on or after DATE (YYYY-MM-DD)"
    )
    run.add_argument("--limit", type=_positive, metavar="N", help="only the newest N items")
    run.add_argument(
        "--dataset", type=Path, metavar="FILE", help="replay a JSONL dataset instead of the ledger"
    )
    run.add_argument(
        "--no-examples", action="store_true", help="no few-shot examples from past decisions"
    )
    run.add_argument("--report", type=Path, metavar="FILE", help="write a .md or .html report")
    run.add_argument("--json", action="store_true")
    run.set_defaults(handler=_cmd_eval_run)

    failures = eval_sub.add_parser(
        "failures",
        help="the items the agent got wrong (your edits, feedback, rejections; the last eval "
        "run's disagreements), listed and written as a dataset",
    )
    failures.add_argument(
        "--output", type=Path, default=None, help="JSONL path (default: <data>/eval/failures.jsonl)"
    )
    failures.add_argument("--json", action="store_true")
    failures.set_defaults(handler=_cmd_eval_failures)
