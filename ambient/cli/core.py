"""`ambient` commands: init, run, status, ingest and the item ledger."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from ambient.cli.output import console, message_json, print_event, print_json, when
from ambient.cli.review import add_review_commands
from ambient.core.schedule import describe_schedule, next_poll

if TYPE_CHECKING:
    from ambient.core.message import ParsedMessage
    from ambient.daemon.alerts.store import LoggedAlert
    from ambient.runtime import Runtime


def _cmd_init(args: argparse.Namespace, runtime: Runtime) -> int:
    settings = runtime.settings
    from ambient.home import initialise

    samples = not args.no_samples and settings.seed_samples
    report = initialise(settings, runtime.memory, lambda: runtime.engine, samples=samples)
    if args.json:
        print_json(
            {
                "created": [str(path) for path in report.created],
                "samples": report.samples,
                "changed": report.changed,
                "config_dir": str(settings.config_dir),
                "data_dir": str(settings.data_dir),
            }
        )
        return 0
    if not report.changed:
        console.print(f"ambient is already set up in {settings.config_dir}: nothing changed.")
        return 0
    for path in report.created:
        console.print(f"[green]created[/] {path}")
    if report.samples:
        console.print(f"[green]delivered[/] {report.samples} sample emails to the inbox")
    console.print(f"config: {settings.config_file}\ndata:   {settings.data_dir}")
    return 0


def _cmd_run(args: argparse.Namespace, runtime: Runtime) -> int:
    return runtime.serve(once=args.once, log_level=args.log_level, log_format=args.log_format)


def _source_json(counts: dict[str, int], polled: Any) -> dict[str, Any]:
    """A source's counts and last poll (None when it has never been polled)."""
    return {
        "counts": counts,
        "last_poll_at": polled.last_poll_at if polled else None,
        "last_ok_at": polled.last_ok_at if polled else None,
        "last_error": polled.last_error if polled else None,
    }


def _schedules(runtime: Runtime, polled: dict[str, Any], running: bool) -> dict[str, Any]:
    """Each configured source's schedule and next poll (None while the daemon is not
    running: it polls every source as it starts)."""
    now = runtime.clock.now()
    rows = {}
    for source in runtime.settings.sources:
        last = polled[source.name].last_poll_at if source.name in polled else None
        upcoming = next_poll(source, last, now) if running else None
        rows[source.name] = {"schedule": describe_schedule(source), "next_poll_at": upcoming}
    return rows


def _alerts(runtime: Runtime) -> tuple[list[str], LoggedAlert | None]:
    """The alert channels [alerts] turns on, and the last alert sent (None: none yet)."""
    from ambient.daemon.alerts.channels import enabled_channels
    from ambient.daemon.alerts.store import AlertStore

    settings = runtime.settings
    names = enabled_channels(settings, runtime.secrets.values) if settings.alerts.enabled else []
    last = AlertStore(runtime.engine).recent(1)
    return names, last[0] if last else None


def _alerts_line(names: list[str], last: LoggedAlert | None) -> str:
    shown = "none"
    if last is not None:
        outcome = "ok" if last.ok else "failed"
        shown = f"{when(last.sent_at)} via {last.channel}, {last.count} waiting, {outcome}"
    return f"alerts: {', '.join(names) or 'no channel'}; last alert: {shown} (ambient alerts list)"


def _cmd_status(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.daemon.health import read_health

    settings, engine, ledger = runtime.settings, runtime.engine, runtime.ledger
    counts = ledger.counts()
    ruled = ledger.pre_rule_counts()  # decided by a pre-rule, no model called (all time)
    review = runtime.reviews.counts()
    sources = ledger.source_states()
    health = read_health(engine, runtime.clock)
    by_name = {state.name: state for state in sources}
    schedules = _schedules(runtime, by_name, health.alive)
    alert_channels, last_alert = _alerts(runtime)
    if args.json:
        print_json(
            {
                "states": counts.by_state,
                "decided_without_model": {"total": sum(ruled.values()), "by_rule": ruled},
                "review": {"unread": review.unread, "unreviewed": review.unreviewed},
                "sources": {
                    name: _source_json(counts.by_source.get(name, {}), by_name.get(name))
                    | schedules.get(name, {"schedule": None, "next_poll_at": None})
                    for name in sorted({*counts.by_source, *by_name, *schedules})
                },
                "daemon": {
                    "alive": health.alive,
                    "process": health.process,
                    "last_heartbeat": health.beat_at,
                    "status": health.status,
                    "model": health.model,
                },
                "model": settings.model_name,
                "alerts": {
                    "channels": alert_channels,
                    "last": last_alert.as_json() if last_alert else None,
                },
            }
        )
        return 0
    alive = "[green]running[/]" if health.alive else "[red]not running[/]"
    console.print(f"daemon: {alive} ({health.status}); model: {settings.model_name}")
    table = Table("state", "items")
    for state, count in counts.by_state.items():
        table.add_row(state, str(count))
    console.print(table)
    rules = ", ".join(f"{name} {count}" for name, count in sorted(ruled.items()))
    console.print(
        f"decided without a model (pre-rules): {sum(ruled.values())}"
        + (f" ({escape(rules)})" if rules else "")
    )
    console.print(
        f"to read: {review.unread} notify item(s) (ambient items inbox); to review: "
        f"{review.unreviewed} ignored (ambient items ignored)"
    )
    console.print(_alerts_line(alert_channels, last_alert), highlight=False)
    table = Table("source", "items", "last poll", "last error")
    for source in sources:
        total = sum(counts.by_source.get(source.name, {}).values())
        table.add_row(source.name, str(total), when(source.last_poll_at), source.last_error or "")
    console.print(table)
    table = Table("source", "schedule", "next poll")
    for name, planned in schedules.items():
        upcoming = planned["next_poll_at"]
        table.add_row(name, planned["schedule"], when(upcoming) if upcoming else "at start-up")
    console.print(table)
    return 0


def _cmd_ingest(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.core.errors import ConfigError, InputError
    from ambient.core.message import UnparseableMessage, parse_message
    from ambient.sources.maildir import deliver

    settings = runtime.settings
    target = next((s for s in settings.sources if s.type == "maildir" and s.owned), None)
    if target is None:
        raise ConfigError("ambient.toml: no owned maildir source to ingest into")
    path = settings.source_path(target)
    delivered = []
    for name in args.files:
        try:
            raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as error:
            raise InputError(f"{name}: cannot be read: {error.strerror or error}") from error
        if not raw.strip():
            raise InputError(f"{'standard input' if name == '-' else name}: is empty")
        try:
            subject = parse_message(raw).subject
        except UnparseableMessage as error:
            subject = f"(unparseable: {error}; it will be quarantined with its bytes kept)"
        key = deliver(path, raw)
        delivered.append({"file": name, "key": key, "source": target.name, "subject": subject})
    if args.json:
        print_json(delivered)
    else:
        for entry in delivered:
            console.print(f"delivered {entry['file']} to {entry['source']}: {entry['subject']}")
    return 0


def _item_summary(item: Any) -> dict[str, Any]:
    return {
        "id": item.id,
        "source": item.source,
        "key": item.key,
        "state": str(item.state),
        "subject": item.subject,
        "sender": item.sender,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "triage": json.loads(item.triage_json) if item.triage_json else None,
        "trace_id": item.trace_id,
        "created_at": item.created_at,
    }


def _print_item(item: dict[str, Any]) -> None:
    for key, value in item.items():
        if key in ("triage", "approvals"):
            continue
        shown = "-" if value is None or value == "" else value
        console.print(f"[bold]{key}[/]: {escape(str(shown))}", highlight=False)
    triage = item.get("triage")
    if isinstance(triage, dict):
        console.print("[bold]triage[/]:", highlight=False)
        for key in ("decision", "priority", "summary", "reason"):
            if triage.get(key):
                console.print(f"  {key}: {escape(str(triage[key]))}", highlight=False)
    if item.get("approvals"):
        console.print("[bold]approvals[/]:", highlight=False)
    for approval in item.get("approvals", []):
        console.print(
            f"  approval #{approval['id']}: {approval['kind']} · {approval['status']}",
            highlight=False,
        )


def stored_message(runtime: Runtime, item_id: int) -> ParsedMessage | None:
    """The item's stored email, parsed; None for an item that is not one (or has no bytes)."""
    from ambient.core.errors import NotFoundError
    from ambient.core.message import UnparseableMessage, parse_message

    try:
        if runtime.ledger.get(item_id).kind != "email":
            return None
        return parse_message(runtime.ledger.content(item_id))
    except (NotFoundError, UnparseableMessage):
        return None


def _cmd_items(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.core.items import ItemState

    ledger = runtime.ledger
    if args.items_command == "retry":
        for item_id in args.ids:
            ledger.retry(item_id)
        if args.json:
            print_json([{"id": item_id, "state": "new"} for item_id in args.ids])
        else:
            for item_id in args.ids:
                console.print(f"item {item_id} queued again")
        return 0
    if args.items_command == "show":
        item = _item_summary(ledger.get(args.id))
        item["approvals"] = [
            {"id": row.id, "kind": row.kind, "status": row.status.value}
            for row in runtime.queue.list(item_id=args.id)
        ]
        message = stored_message(runtime, args.id)
        if args.json:
            print_json({**item, **message_json(message)})
        else:
            _print_item(item)
            print_event(console, message)
        return 0
    states = [ItemState(args.state)] if args.state else None
    rows = [_item_summary(item) for item in ledger.items(states, limit=args.limit)]
    if args.json:
        print_json(rows)
        return 0
    table = Table("id", "state", "source", "from", "subject", "error")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["state"],
            row["source"],
            row["sender"][:30],
            row["subject"][:40],
            (row["last_error"] or "")[:40],
        )
    console.print(table)
    return 0


def add_core_commands(subparsers: Any) -> None:
    init = subparsers.add_parser("init", help="create config, data dirs, memory and database")
    init.add_argument("--no-samples", action="store_true", help="do not drop sample emails")
    init.add_argument("--json", action="store_true")
    init.set_defaults(handler=_cmd_init)

    run = subparsers.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("--once", action="store_true", help="one pass of every job, then exit")
    run.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR")
    run.add_argument("--log-format", choices=["text", "json"], default=None)
    run.set_defaults(handler=_cmd_run)

    status = subparsers.add_parser("status", help="item counts, sources, daemon health")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_cmd_status)

    ingest = subparsers.add_parser("ingest", help="put .eml files (or - for stdin) in the inbox")
    ingest.add_argument("files", nargs="+")
    ingest.add_argument("--json", action="store_true")
    ingest.set_defaults(handler=_cmd_ingest)

    items = subparsers.add_parser("items", help="the item ledger")
    items_sub = items.add_subparsers(dest="items_command", required=True)
    listing = items_sub.add_parser("list", help="recent items")
    listing.add_argument(
        "--state",
        choices=["new", "processing", "awaiting_approval", "done", "failed", "quarantined"],
    )
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    show = items_sub.add_parser("show", help="one item")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    retry = items_sub.add_parser("retry", help="queue failed or quarantined items again")
    retry.add_argument("ids", type=int, nargs="+")
    retry.add_argument("--json", action="store_true")
    add_review_commands(items_sub)  # inbox, read, ignored, confirm, overturn: their own handlers
    items.set_defaults(handler=_cmd_items)
