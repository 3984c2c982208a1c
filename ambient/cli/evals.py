"""`ambient` commands: eval: datasets from your decisions."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ambient.cli.output import console, print_json

if TYPE_CHECKING:
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


def add_eval_commands(subparsers: Any) -> None:
    from ambient.evals.export import DEFAULT_DATASET

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
