"""`ambient` commands: memory: the files the agent reads and learns into."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from rich.table import Table

from ambient.cli.output import console, print_json

if TYPE_CHECKING:
    from ambient.memory.audit import MemoryAudit
    from ambient.runtime import Runtime


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


def _audit(runtime: Runtime) -> MemoryAudit:
    """Memory changes made from the CLI are audit entries, as `cli:<user>`."""
    import getpass

    from ambient.memory.audit import MemoryAudit

    return MemoryAudit(runtime.engine, runtime.clock, f"cli:{getpass.getuser()}")


def _memory_log(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.memory import commands

    settings = runtime.settings
    if args.memory_command == "undo":
        entries = [commands.undo(settings.memory_dir, args.revision, _audit(runtime))]
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


def _cmd_memory(args: argparse.Namespace, runtime: Runtime) -> int:
    import os

    from ambient.memory import commands
    from ambient.memory.store import MemoryStore

    settings = runtime.settings
    store, command = MemoryStore(settings.memory_dir), args.memory_command
    if command == "list":
        return _memory_list(args, store)
    if command in ("log", "undo"):
        return _memory_log(args, runtime)
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
    edited = commands.edit_file(store, args.file, editor, _audit(runtime))
    if args.json:
        print_json(edited)
    else:
        console.print(f"{edited['file']}: " + ("saved" if edited["changed"] else "unchanged"))
    return 0


def add_memory_commands(subparsers: Any) -> None:
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
    undo.add_argument(
        "revision", nargs="?", default=None, help="default: ambient's newest change (not yours)"
    )
    undo.add_argument("--json", action="store_true")
    memory.set_defaults(handler=_cmd_memory)
