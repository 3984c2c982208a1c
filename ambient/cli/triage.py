"""`ambient` commands: triage: a dry run of the agent on one message."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ambient.cli.output import console, print_json

if TYPE_CHECKING:
    from ambient.runtime import Runtime


def _cmd_triage(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.agent.dry_run import dry_run, render_text

    agent, rules = runtime.untraced_agent, runtime.pre_rules
    report = asyncio.run(dry_run(Path(args.file), agent, runtime.policy, rules))
    if args.json:
        print_json(report.as_json())
    else:
        console.print(render_text(report), markup=False, highlight=False)
    return 0


def add_triage_commands(subparsers: Any) -> None:
    triage = subparsers.add_parser(
        "triage", help="dry run: the agent on one message; prints its decision, queues nothing"
    )
    triage.add_argument("file", help="an email file (.eml)")
    triage.add_argument("--json", action="store_true")
    triage.set_defaults(handler=_cmd_triage)
