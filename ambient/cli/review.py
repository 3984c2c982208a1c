"""`ambient items inbox|read|ignored|confirm|overturn`: review what the agent let pass.

The inbox holds the items triaged "notify" (read them); the ignored list the items triaged
"ignore" (confirm the decision, or overturn it: the item runs again, as the user's request to
act on it, and memory reflection learns from it).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from ambient.cli.output import console, error_console, print_json
from ambient.core.errors import DecisionError

if TYPE_CHECKING:
    from ambient.core.review import ReviewEntry, ReviewOutcome
    from ambient.runtime import Runtime

_AGO = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """`7d`, `12h`, `30m`, `2w` (back from now), or a date / ISO date and time."""
    if found := _AGO.match(text.strip().lower()):
        return now - timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    from ambient.evals.run import parse_since as parse_date

    return parse_date(text)


def _print_entries(entries: Sequence[ReviewEntry], empty: str) -> None:
    if not entries:
        console.print(empty)
        return
    table = Table()  # one line per item: only "what · why" gives way, with an ellipsis
    for name in ("id", "review", "!", "from", "by"):  # by: the pre-rule that decided it
        table.add_column(name, no_wrap=True)
    table.add_column("what · why")
    for entry in entries:
        table.add_row(
            str(entry.item_id),
            entry.review.value,
            "!" if entry.priority == "high" else "",
            Text(entry.who[:18]),
            f"rule {entry.pre_rule}" if entry.pre_rule else "",
            Text(entry.what, no_wrap=True, overflow="ellipsis"),
        )
    console.print(table)


def _report(outcomes: Sequence[ReviewOutcome], verb: str, as_json: bool) -> int:
    """Each item's outcome; a refusal's exit code when any was refused."""
    if as_json:
        print_json([{"id": o.item_id, "ok": o.ok, "reason": o.reason} for o in outcomes])
    for outcome in [] if as_json else outcomes:
        if outcome.ok:
            console.print(f"item {outcome.item_id} {verb}")
        else:
            error_console.print(Text(f"item {outcome.item_id}: {outcome.reason}", style="red"))
    return 0 if all(outcome.ok for outcome in outcomes) else DecisionError.exit_code


def _cmd_inbox(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.core.items import Review

    entries = runtime.reviews.inbox(limit=args.limit)
    if args.unread:
        entries = [entry for entry in entries if entry.review == Review.UNREAD]
    if args.json:
        print_json([entry.as_json() for entry in entries])
    else:
        _print_entries(entries, "No notify items.")
    return 0


def _cmd_ignored(args: argparse.Namespace, runtime: Runtime) -> int:
    since = parse_since(args.since, runtime.clock.now()) if args.since else None
    entries = runtime.reviews.ignored(since, limit=args.limit)
    if args.json:
        print_json([entry.as_json() for entry in entries])
    else:
        _print_entries(entries, "No ignored items" + (f" since {args.since}." if since else "."))
    return 0


def _cmd_read(args: argparse.Namespace, runtime: Runtime) -> int:
    return _report(runtime.reviews.read(args.ids), "read", args.json)


def _cmd_confirm(args: argparse.Namespace, runtime: Runtime) -> int:
    return _report(runtime.reviews.confirm(args.ids), "confirmed: rightly ignored", args.json)


def _cmd_overturn(args: argparse.Namespace, runtime: Runtime) -> int:
    overturn = runtime.reviews.overturn(args.id, args.reason or "")
    rule = overturn.pre_rule
    if args.json:
        print_json({"id": args.id, "state": "new", "overturned": overturn.decision, "rule": rule})
        return 0
    console.print(f"item {args.id} queued to run again: the agent is told you want it acted on")
    if rule:
        console.print(
            Text(
                f"the pre-rule {rule!r} ignored it: to stop it ignoring such mail, change that "
                "rule in ambient.toml ([[rules]] or [prerules])",
                style="yellow",
            )
        )
    else:
        console.print("memory reflection will learn from it, so such mail is not ignored again")
    return 0


def add_review_commands(items_sub: Any) -> None:
    """The review commands, under `ambient items`."""
    inbox = items_sub.add_parser("inbox", help="items triaged notify: what to read")
    inbox.add_argument("--unread", action="store_true", help="only those not read yet")
    inbox.add_argument("--limit", type=int, default=50)
    inbox.add_argument("--json", action="store_true")
    inbox.set_defaults(handler=_cmd_inbox)
    read = items_sub.add_parser("read", help="mark notify items read")
    read.add_argument("ids", type=int, nargs="+")
    read.add_argument("--json", action="store_true")
    read.set_defaults(handler=_cmd_read)
    ignored = items_sub.add_parser("ignored", help="items triaged ignore, to confirm or overturn")
    ignored.add_argument(
        "--since", metavar="WHEN", help="only items that came in since WHEN (7d, 12h, YYYY-MM-DD)"
    )
    ignored.add_argument("--limit", type=int, default=50)
    ignored.add_argument("--json", action="store_true")
    ignored.set_defaults(handler=_cmd_ignored)
    confirm = items_sub.add_parser("confirm", help="confirm ignore decisions: rightly ignored")
    confirm.add_argument("ids", type=int, nargs="+")
    confirm.add_argument("--json", action="store_true")
    confirm.set_defaults(handler=_cmd_confirm)
    overturn = items_sub.add_parser(
        "overturn", help="overturn an ignore: run the item again as act; memory learns from it"
    )
    overturn.add_argument("id", type=int)
    overturn.add_argument("--reason", metavar="TEXT", help="what you want done, for the agent")
    overturn.add_argument("--json", action="store_true")
    overturn.set_defaults(handler=_cmd_overturn)
