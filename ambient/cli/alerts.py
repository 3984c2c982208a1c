"""`ambient alerts test|list`: try every alert channel; the alerts sent lately.

What a command prints with ``--json`` has stable keys: scripts read them.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ambient.cli.output import console, print_json, when

if TYPE_CHECKING:
    from ambient.runtime import Runtime


def _cmd_test(args: argparse.Namespace, runtime: Runtime) -> int:
    dispatcher = runtime.alerts
    if not dispatcher.channels.all:
        message = (
            "no alert channel is enabled: set desktop, command, [alerts.http] or digest in "
            "[alerts] (desktop needs a D-Bus session bus)"
        )
        if args.json:
            print_json({"channels": [], "message": message})
        else:
            console.print(message)
        return 1
    outcomes = asyncio.run(dispatcher.test())
    if args.json:
        print_json(
            {"channels": [{"channel": o.channel, "ok": o.ok, "error": o.error} for o in outcomes]}
        )
    else:
        for outcome in outcomes:
            if outcome.ok:
                console.print(f"[green]sent[/] {outcome.channel}", highlight=False)
            else:
                reason = escape((outcome.error or "").removeprefix(f"{outcome.channel}: "))
                console.print(f"[red]failed[/] {outcome.channel}: {reason}", highlight=False)
    return 0 if all(outcome.ok for outcome in outcomes) else 1


def _cmd_list(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.daemon.alerts.store import AlertStore

    alerts = AlertStore(runtime.engine).recent(args.limit)
    if args.json:
        print_json({"alerts": [alert.as_json() for alert in alerts]})
        return 0
    if not alerts:
        console.print("no alerts sent yet")
        return 0
    table = Table("when", "channel", "kind", "count", "outcome")
    for alert in alerts:
        outcome = Text("ok", style="green") if alert.ok else Text(alert.error or "failed", "red")
        table.add_row(when(alert.sent_at), alert.channel, alert.kind, str(alert.count), outcome)
    console.print(table)
    return 0


def add_alerts_commands(subparsers: Any) -> None:
    alerts = subparsers.add_parser("alerts", help="alerts: test the channels, list recent ones")
    sub = alerts.add_subparsers(dest="alerts_command", required=True)
    test = sub.add_parser("test", help="send a test alert through every enabled channel")
    test.set_defaults(handler=_cmd_test)
    listing = sub.add_parser("list", help="recent alerts: when, channel, count, ok or error")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(handler=_cmd_list)
    for command in sub.choices.values():
        command.add_argument("--json", action="store_true")
