"""The `ambient` command: parses arguments and calls into the packages, nothing more.

Errors from inside (AmbientError) become one red line and a meaningful exit code here.
Every command that reports or lists something takes --json (stable keys) for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ambient import __version__
from ambient.config import Secrets, Settings, load_settings
from ambient.errors import AmbientError

console = Console()
error_console = Console(stderr=True)

Handler = Callable[[argparse.Namespace, Settings, Secrets], int]


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, sort_keys=True) + "\n")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"


# ---- init / run / status / ingest / items ------------------------------------------------
def _cmd_init(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    from ambient.home import initialise

    report = initialise(settings, samples=not args.no_samples and settings.seed_samples)
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


def _cmd_run(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    from ambient.daemon.runner import run_daemon

    return run_daemon(
        settings, secrets, once=args.once, log_level=args.log_level, log_format=args.log_format
    )


def _cmd_status(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    from ambient.clock import SystemClock
    from ambient.daemon.health import read_health
    from ambient.daemon.ledger import Ledger
    from ambient.db import open_database

    engine = open_database(settings.resolved_database_url)
    ledger = Ledger(engine, SystemClock(), settings.worker)
    counts = ledger.counts()
    sources = ledger.source_states()
    health = read_health(engine, SystemClock())
    if args.json:
        print_json(
            {
                "states": counts.by_state,
                "sources": {
                    state.name: {
                        "counts": counts.by_source.get(state.name, {}),
                        "last_poll_at": state.last_poll_at,
                        "last_ok_at": state.last_ok_at,
                        "last_error": state.last_error,
                    }
                    for state in sources
                }
                | {
                    name: {
                        "counts": by_state,
                        "last_poll_at": None,
                        "last_ok_at": None,
                        "last_error": None,
                    }
                    for name, by_state in counts.by_source.items()
                    if name not in {state.name for state in sources}
                },
                "daemon": {
                    "alive": health.alive,
                    "process": health.process,
                    "last_heartbeat": health.beat_at,
                    "status": health.status,
                    "model": health.model,
                },
                "model": settings.model_name,
            }
        )
        return 0
    alive = "[green]running[/]" if health.alive else "[red]not running[/]"
    console.print(f"daemon: {alive} ({health.status}); model: {settings.model_name}")
    table = Table("state", "items")
    for state, count in counts.by_state.items():
        table.add_row(state, str(count))
    console.print(table)
    table = Table("source", "items", "last poll", "last error")
    for source in sources:
        total = sum(counts.by_source.get(source.name, {}).values())
        table.add_row(source.name, str(total), _when(source.last_poll_at), source.last_error or "")
    console.print(table)
    return 0


def _cmd_ingest(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    from ambient.daemon.sources.maildir import deliver
    from ambient.errors import ConfigError, InputError
    from ambient.message import UnparseableMessage, parse_message

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


def _cmd_items(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    from ambient.clock import SystemClock
    from ambient.daemon.ledger import Ledger
    from ambient.db import open_database
    from ambient.items import ItemState

    ledger = Ledger(open_database(settings.resolved_database_url), SystemClock(), settings.worker)
    if args.items_command == "retry":
        for item_id in args.ids:
            ledger.retry(item_id)
            console.print(f"item {item_id} queued again")
        return 0
    if args.items_command == "show":
        item = _item_summary(ledger.get(args.id))
        if args.json:
            print_json(item)
        else:
            for key, value in item.items():
                console.print(f"[bold]{key}[/]: {value}")
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


def _add_core_commands(subparsers: Any) -> None:
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
    items.set_defaults(handler=_cmd_items)


# ---- parser and entry point --------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ambient",
        description="An ambient agent daemon: triages your inbox, drafts, waits for approval.",
    )
    parser.add_argument("--version", action="version", version=f"ambient {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_core_commands(subparsers)
    for add in _extension_commands():
        add(subparsers)
    return parser


def _extension_commands() -> list[Callable[[Any], None]]:
    """Sections other packages' commands register in (kept apart to stay readable)."""
    return [
        _add_approvals_commands,
        _add_triage_commands,
        _add_memory_commands,
        _add_tui_commands,
        _add_service_commands,
        _add_eval_commands,
    ]


# ---- approvals commands ------------------------------------------------------------------
def _cmd_approvals(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    import os

    from ambient.approvals.commands import open_commands

    command, as_json = args.approvals_command, args.json
    with open_commands(settings, secrets, console) as commands:
        if command == "list":
            return commands.list_approvals(args.status, args.limit, as_json=as_json)
        if command == "show":
            return commands.show(args.id, as_json=as_json)
        if command == "approve":
            return commands.approve(args.ids, args.hash, ack=args.ack, as_json=as_json)
        if command == "reject":
            return commands.reject(args.ids, args.hash, args.reason, as_json=as_json)
        if command == "ignore":
            return commands.ignore(args.ids, args.hash, as_json=as_json)
        if command == "feedback":
            return commands.feedback(args.id, args.hash, args.message, as_json=as_json)
        if command == "edit":
            return commands.edit(
                args.id,
                args.hash,
                assignments=args.set,
                args_json=args.args_json,
                editor=os.environ.get("VISUAL") or os.environ.get("EDITOR"),
                ack=args.ack,
                as_json=as_json,
            )
        if command == "undo":
            return commands.undo(args.id, as_json=as_json)
        return commands.retry(args.id, as_json=as_json)


def _cmd_log(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    from ambient.approvals.commands import open_commands

    with open_commands(settings, secrets, console) as commands:
        return commands.log(
            args.approval, args.item, args.limit, verify=args.verify, as_json=args.json
        )


def _add_approvals_commands(subparsers: Any) -> None:
    approvals = subparsers.add_parser("approvals", help="review and decide drafted actions")
    sub = approvals.add_subparsers(dest="approvals_command", required=True)
    statuses = [
        "pending",
        "blocked",
        "approved",
        "executing",
        "executed",
        "failed",
        "dead",
        "feedback",
        "rejected",
        "ignored",
    ]
    listing = sub.add_parser("list", help="approvals waiting for you (or --status …)")
    listing.add_argument("--status", action="append", choices=statuses, help="repeatable")
    listing.add_argument("--limit", type=int, default=100)
    show = sub.add_parser("show", help="one approval, exactly as a decision is bound to it")
    show.add_argument("id", type=int)
    hash_help = "the hash `show` printed (default: the row as printed by this command)"
    for name, text in (
        ("approve", "approve as drafted"),
        ("ignore", "drop without teaching"),
        ("reject", "reject (memory learns from the reason)"),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("ids", type=int, nargs="+")
        parser.add_argument("--hash", default=None, help=hash_help)
        if name == "approve":
            parser.add_argument("--ack", action="store_true", help="acknowledge policy warnings")
        if name == "reject":
            parser.add_argument("--reason", required=True)
    feedback = sub.add_parser("feedback", help="deny with a message; the agent drafts again")
    feedback.add_argument("id", type=int)
    feedback.add_argument("--message", required=True)
    feedback.add_argument("--hash", default=None, help=hash_help)
    edit = sub.add_parser(
        "edit", help="approve with changed arguments ($EDITOR, --set, --args-json)"
    )
    edit.add_argument("id", type=int)
    edit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    edit.add_argument("--args-json", default=None, help="the complete arguments as JSON")
    edit.add_argument("--ack", action="store_true", help="acknowledge policy warnings")
    edit.add_argument("--hash", default=None, help=hash_help)
    for name, text in (
        ("undo", "take back a decision before it runs"),
        ("retry", "run a dead action again (e.g. delivery uncertain, not sent)"),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("id", type=int)
    for parser in sub.choices.values():
        parser.add_argument("--json", action="store_true")
    approvals.set_defaults(handler=_cmd_approvals)

    log = subparsers.add_parser("log", help="the audit log of decisions and executions")
    log.add_argument("--approval", type=int, default=None)
    log.add_argument("--item", type=int, default=None)
    log.add_argument("--limit", type=int, default=100)
    log.add_argument("--verify", action="store_true", help="check the hash chain (exit 1: broken)")
    log.add_argument("--json", action="store_true")
    log.set_defaults(handler=_cmd_log)


# ---- triage commands ---------------------------------------------------------------------
def _cmd_triage(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    from ambient.agent.dry_run import dry_run, render_text

    report = asyncio.run(dry_run(Path(args.file), settings, secrets))
    if args.json:
        print_json(report.as_json())
    else:
        console.print(render_text(report), markup=False, highlight=False)
    return 0


def _add_triage_commands(subparsers: Any) -> None:
    triage = subparsers.add_parser(
        "triage", help="dry run: the agent on one message; prints its decision, queues nothing"
    )
    triage.add_argument("file", help="an email file (.eml)")
    triage.add_argument("--json", action="store_true")
    triage.set_defaults(handler=_cmd_triage)


# ---- memory commands ---------------------------------------------------------------------
def _memory_list(args: argparse.Namespace, store: Any) -> int:
    from ambient.memory import commands

    listing = commands.list_files(store)
    if args.json:
        print_json(listing)
        return 0
    console.print(f"memory folder: {listing['folder']}", highlight=False)
    table = Table("file", "status", "tokens", "modified", "problem")
    for row in listing["files"]:
        table.add_row(
            row["file"],
            row["status"],
            str(row["tokens"] or ""),
            (row["modified"] or "")[:19],
            row["error"] or "",
        )
    console.print(table)
    return 0


def _memory_log(args: argparse.Namespace, settings: Settings) -> int:
    from ambient.memory import commands

    if args.memory_command == "undo":
        entries = [commands.undo(settings.memory_dir, args.revision)]
    else:
        entries = commands.log(settings.memory_dir, args.limit, args.file, args.patch)
    if args.json:
        print_json(entries[0] if args.memory_command == "undo" else entries)
        return 0
    for entry in entries:
        console.print(
            f"[yellow]{entry['short']}[/] {entry['committed_at'][:19]} {entry['subject']}",
            highlight=False,
        )
        if getattr(args, "patch", False):
            sys.stdout.write(entry["diff"] + "\n")
    return 0


def _cmd_memory(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    import os

    from ambient.memory import commands
    from ambient.memory.store import MemoryStore

    store, command = MemoryStore(settings.memory_dir), args.memory_command
    if command == "list":
        return _memory_list(args, store)
    if command in ("log", "undo"):
        return _memory_log(args, settings)
    if command == "show":
        shown = commands.show_file(store, args.file)
        print_json(shown) if args.json else sys.stdout.write(shown["text"])
        return 0
    if command == "search":
        hits = commands.search(store, args.query, args.limit)
        lines = [f"{hit['file']}:{hit['line']}: {hit['text']}" for hit in hits]
        print_json(hits) if args.json else sys.stdout.write("".join(f"{x}\n" for x in lines))
        return 0 if hits else 1
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    edited = commands.edit_file(store, args.file, editor)
    if args.json:
        print_json(edited)
    else:
        console.print(f"{edited['file']}: " + ("saved" if edited["changed"] else "unchanged"))
    return 0


def _add_memory_commands(subparsers: Any) -> None:
    memory = subparsers.add_parser("memory", help="the memory files ambient learns into")
    memory_sub = memory.add_subparsers(dest="memory_command", required=True)
    listing = memory_sub.add_parser("list", help="memory files, their size and problems")
    listing.add_argument("--json", action="store_true")
    show = memory_sub.add_parser("show", help="print one memory file")
    show.add_argument("file", help="e.g. triage_rules.md")
    show.add_argument("--json", action="store_true")
    search = memory_sub.add_parser("search", help="lines of memory matching words (exit 1: none)")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=50)
    search.add_argument("--json", action="store_true")
    edit = memory_sub.add_parser("edit", help="open a memory file in $VISUAL / $EDITOR")
    edit.add_argument("file")
    edit.add_argument("--json", action="store_true")
    history = memory_sub.add_parser("log", help="the history of memory changes")
    history.add_argument("--file", default=None, help="only changes to this file")
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("-p", "--patch", action="store_true", help="include each diff")
    history.add_argument("--json", action="store_true")
    undo = memory_sub.add_parser("undo", help="revert one memory change with a new commit")
    undo.add_argument("revision", nargs="?", default="HEAD", help="default: the newest change")
    undo.add_argument("--json", action="store_true")
    memory.set_defaults(handler=_cmd_memory)


# ---- tui commands ------------------------------------------------------------------------
def _cmd_tui(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    import os

    from ambient.tui.app import run_tui

    editor = args.editor or os.environ.get("VISUAL") or os.environ.get("EDITOR") or None
    return run_tui(settings, secrets, editor=editor)


def _add_tui_commands(subparsers: Any) -> None:
    tui = subparsers.add_parser("tui", help="review and decide what the agent drafted")
    tui.add_argument(
        "--editor", default=None, help="editor command for drafts (default: $VISUAL, $EDITOR)"
    )
    tui.set_defaults(handler=_cmd_tui)


# ---- service commands --------------------------------------------------------------------
def _cmd_service(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    import os

    from ambient.clock import SystemClock
    from ambient.daemon import service_admin
    from ambient.db import open_database

    unit_dir = service_admin.user_unit_dir(os.environ)
    if args.service_command == "install":
        installed = service_admin.install(settings, unit_dir)
        if args.json:
            print_json(
                {
                    "unit_path": str(installed.path),
                    "changed": installed.changed,
                    "executable": str(installed.executable),
                    "warnings": installed.warnings,
                    "commands": installed.commands,
                }
            )
            return 0
        verb = "wrote" if installed.changed else "unchanged:"
        console.print(f"[green]{verb}[/] {installed.path} (runs {installed.executable} run)")
        for warning in installed.warnings:
            error_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
        console.print("then:\n" + "\n".join(f"  {line}" for line in installed.commands))
        return 0
    if args.service_command == "uninstall":
        removed = service_admin.uninstall(unit_dir)
        if args.json:
            removed_paths = [str(path) for path in removed.removed]
            print_json(
                {
                    "unit_path": str(removed.path),
                    "removed": removed_paths,
                    "commands": removed.commands,
                }
            )
            return 0
        if not removed.removed:
            console.print(f"no unit at {removed.path}: nothing removed")
        for path in removed.removed:
            console.print(f"[green]removed[/] {path}")
        if removed.commands:
            console.print("then:\n" + "\n".join(f"  {line}" for line in removed.commands))
        return 0
    clock = SystemClock()
    status = service_admin.service_status(
        open_database(settings.resolved_database_url), clock, unit_dir
    )
    if args.json:
        print_json(status.as_json())
        return 0
    health = status.health
    alive = "[green]running[/]" if health.alive else "[red]not running[/]"
    console.print(f"daemon: {alive} ({health.status}); last heartbeat {_when(health.beat_at)}")
    unit_state = "installed" if status.installed else "not installed"
    console.print(
        f"unit: {status.unit_path} ({unit_state}); systemd: {status.systemd or 'not reachable'}"
    )
    return 0 if health.alive else 1


def _add_service_commands(subparsers: Any) -> None:
    service = subparsers.add_parser("service", help="run ambient as a systemd user service")
    service_sub = service.add_subparsers(dest="service_command", required=True)
    for name, text in (
        ("install", "write ~/.config/systemd/user/ambient.service for this install"),
        ("uninstall", "remove the user unit"),
        ("status", "daemon health from its heartbeat, exit 1 if not running (no systemd needed)"),
    ):
        command = service_sub.add_parser(name, help=text)
        command.add_argument("--json", action="store_true")
    service.set_defaults(handler=_cmd_service)


# ---- eval commands -----------------------------------------------------------------------
def _cmd_eval_export(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    from ambient.clock import SystemClock
    from ambient.tracing.datasets import run_eval_export

    report = run_eval_export(
        settings, secrets, SystemClock(), dataset=args.dataset, path=args.output
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


def _add_eval_commands(subparsers: Any) -> None:
    from ambient.tracing.datasets import DEFAULT_DATASET

    evaluation = subparsers.add_parser("eval", help="evaluation datasets from your decisions")
    eval_sub = evaluation.add_subparsers(dest="eval_command", required=True)
    export = eval_sub.add_parser(
        "export", help="decided items -> a Langfuse dataset and a local JSONL file"
    )
    export.add_argument("--dataset", default=DEFAULT_DATASET, help="the dataset's name")
    export.add_argument(
        "--output", type=Path, default=None, help="JSONL path (default: <data>/eval/NAME.jsonl)"
    )
    export.add_argument("--json", action="store_true")
    export.set_defaults(handler=_cmd_eval_export)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings, secrets = load_settings()
        handler: Handler = args.handler
        return handler(args, settings, secrets)
    except AmbientError as error:
        for line in str(error).splitlines() or [type(error).__name__]:
            error_console.print(f"[red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
