"""`ambient` commands: autonomy: which action classes earned approval by rule, and the switch.

What a command prints with ``--json`` has stable keys: scripts read them.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text

from ambient.cli.output import console, print_json, when

if TYPE_CHECKING:
    from ambient.approvals.autonomy_status import AutonomyStatus, ClassEvidence
    from ambient.runtime import Runtime


def eval_cell(evidence: ClassEvidence) -> str:
    """`95% (40)`: the last eval agreement and over how many items; `-` when never measured."""
    if evidence.eval_agreement is None:
        return "-"
    return f"{evidence.eval_agreement:.0%} ({evidence.eval_items or 0})"


def _render(status: AutonomyStatus) -> None:
    """The summary line, then two lines per class (three with a note): it fits 80 columns."""
    style = "green" if status.active else "yellow"
    console.print(f"[{style}]{escape(status.summary())}[/]", highlight=False)
    if not status.classes:
        console.print("no action classes yet: each decision on an action with a scope starts one")
        return
    for evidence in status.classes:
        line = Text(evidence.name, style="bold")
        line.append(f"  {evidence.level}", style="green" if evidence.acting else "")
        line.append(f"  streak {evidence.streak}/{evidence.needed}")
        line.append(f"  eval {eval_cell(evidence)}  auto-approved {evidence.auto_approved}")
        console.print(line, highlight=False)
        changed = Text(f"    {when(evidence.changed_at)}: {evidence.reason or 'new'}", style="dim")
        console.print(changed, highlight=False)
        if evidence.note:
            console.print(Text(f"    ({evidence.note})", style="yellow"), highlight=False)


def _cmd_list(args: argparse.Namespace, runtime: Runtime) -> int:
    status = runtime.autonomy.status()
    if args.json:
        print_json(status.as_json())
    else:
        _render(status)
    return 0


def _cmd_switch(args: argparse.Namespace, runtime: Runtime) -> int:
    switched_on = args.autonomy_command == "on"
    changed = runtime.autonomy.switch(switched_on, runtime.actor)
    status = runtime.autonomy.status()
    if args.json:
        print_json({"changed": changed, **status.as_json()})
        return 0
    word = args.autonomy_command
    console.print(f"autonomy switched {word}" if changed else f"autonomy was already {word}")
    if switched_on and not status.enabled:
        console.print(
            Text(
                "but autonomy is off in ambient.toml: set [autonomy] enabled = true for the "
                "switch to matter",
                style="yellow",
            ),
            highlight=False,
        )
    elif not switched_on:
        console.print("nothing is approved by rule until `ambient autonomy on`")
    return 0


def _cmd_reset(args: argparse.Namespace, runtime: Runtime) -> int:
    evidence = runtime.autonomy.reset(args.name, runtime.actor)
    if args.json:
        print_json(evidence.as_json())
        return 0
    console.print(
        f"{escape(evidence.name)}: back to learning, streak 0/{evidence.needed}", highlight=False
    )
    return 0


def add_autonomy_commands(subparsers: Any) -> None:
    autonomy = subparsers.add_parser(
        "autonomy", help="earned autonomy: action classes approved by rule, and the kill switch"
    )
    sub = autonomy.add_subparsers(dest="autonomy_command", required=True)
    listing = sub.add_parser(
        "list", help="each action class: level, streak, eval agreement, last change and why"
    )
    listing.set_defaults(handler=_cmd_list)
    for name, text in (
        ("off", "kill switch: approve nothing by rule (the running daemon obeys at once)"),
        ("on", "approve by rule again (where ambient.toml enables autonomy)"),
    ):
        switch = sub.add_parser(name, help=text)
        switch.set_defaults(handler=_cmd_switch)
    reset = sub.add_parser("reset", help="one class back to learning, its streak 0")
    reset.add_argument("name", metavar="CLASS", help="e.g. reply_email:ann@example.com")
    reset.set_defaults(handler=_cmd_reset)
    for command in sub.choices.values():
        command.add_argument("--json", action="store_true")
