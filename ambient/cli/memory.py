"""`ambient` commands: memory: the files the agent reads and learns into.

What a command prints with ``--json`` has stable keys: scripts read them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from ambient.cli.output import console, error_console, print_json

if TYPE_CHECKING:
    from ambient.memory.audit import MemoryAudit
    from ambient.memory.history import MemoryCommit, MemoryHistory
    from ambient.memory.store import MemoryStore
    from ambient.runtime import Runtime


def _listing(store: MemoryStore) -> dict[str, Any]:
    from ambient.memory.history import MemoryHistory, git_available

    history = MemoryHistory(store.folder)
    files = [
        {
            "file": row.name,
            "status": row.status,
            "size": row.size,
            "tokens": row.tokens,
            "modified": row.modified.isoformat() if row.modified else None,
            "error": row.error,
        }
        for row in store.status()
    ]
    pending = history.has_changes() if history.is_repository and git_available() else None
    return {
        "folder": str(store.folder),
        "folder_exists": store.folder.is_dir(),
        "history": history.is_repository,
        "uncommitted_edits": pending,
        "files": files,
    }


def _memory_list(args: argparse.Namespace, store: MemoryStore) -> int:
    listing = _listing(store)
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


def _file(store: MemoryStore, file: str) -> dict[str, Any]:
    memory_file = store.load(file)
    return {
        "file": memory_file.name,
        "text": memory_file.text,
        "sha256": memory_file.sha256,
        "tokens": memory_file.tokens,
        "headings": [
            {"level": heading.level, "title": heading.title, "line": heading.line}
            for heading in memory_file.headings
        ],
    }


def _commit(commit: MemoryCommit, history: MemoryHistory, patch: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "revision": commit.revision,
        "short": commit.short,
        "committed_at": commit.committed_at.isoformat(),
        "author": commit.author,
        "subject": commit.subject,
        "body": commit.body,
        "files": list(commit.files),
    }
    if patch:
        entry["diff"] = history.show(commit.revision)
    return entry


def _log(folder: Path, limit: int, file: str | None, patch: bool) -> list[dict[str, Any]]:
    from ambient.memory.history import MemoryHistory
    from ambient.memory.names import normalise_name

    history = MemoryHistory(folder)
    name = normalise_name(file) if file else None
    return [_commit(commit, history, patch) for commit in history.log(limit=limit, file=name)]


def _undo(folder: Path, revision: str | None, audit: MemoryAudit | None) -> dict[str, Any]:
    """Revert `revision`, or ambient's newest change not undone yet (never the user's edit)."""
    from ambient.memory.history import MemoryHistory

    history = MemoryHistory(folder, audit)
    return _commit(history.undo(revision), history, patch=True)


LATER = "its audit entry will be written later (by the next memory command or daemon pass)"


def _audit(runtime: Runtime, *, quiet: bool = False) -> MemoryAudit | None:
    """Memory changes made from the CLI are audit entries, as `cli:<user>`; first, the entries
    earlier runs lost are entered. None when the database cannot be reached: the git part of
    a command is done all the same, with a warning (unless `quiet`)."""
    from ambient.memory.audit import DATABASE_ERRORS
    from ambient.memory.history import MemoryHistory

    try:
        audit = runtime.memory_audit  # in the runtime's actor's name: `cli:<user>`
    except DATABASE_ERRORS as error:
        if not quiet:
            error_console.print(
                f"[yellow]warning:[/] the database cannot be reached ({error}): a memory "
                f"change is made all the same, and {LATER}",
                highlight=False,
            )
        return None
    history = MemoryHistory(runtime.settings.memory_dir)
    if history.is_repository:
        with history.locked():
            audit.catch_up(history)
    return audit


def _warn_deferred(audit: MemoryAudit | None) -> None:
    """Say so when the change is committed but its audit entry could not be written."""
    if audit is not None and audit.deferred:
        error_console.print(
            f"[yellow]warning:[/] the audit log did not take the entry for "
            f"{', '.join(revision[:10] for revision in audit.deferred)}: {LATER}",
            highlight=False,
        )


def _memory_log(args: argparse.Namespace, runtime: Runtime) -> int:
    settings = runtime.settings
    # `log` also writes audit entries an earlier command could not (quietly): see MemoryAudit
    audit = _audit(runtime, quiet=args.memory_command == "log")
    if args.memory_command == "undo":
        entries = [_undo(settings.memory_dir, args.revision, audit)]
        _warn_deferred(audit)
    else:
        entries = _log(settings.memory_dir, args.limit, args.file, args.patch)
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


def _learn_style(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.memory.changes import MemoryChanges
    from ambient.memory.learn_style import DEFAULT_LIMIT, learn_style, read_sent_mail
    from ambient.memory.style import describe

    settings = runtime.settings
    limit = DEFAULT_LIMIT if args.limit is None else args.limit
    sent, addresses = read_sent_mail(
        settings, runtime.secrets, source=args.source, maildir=args.maildir, limit=limit
    )
    learned = learn_style(
        engine=runtime.engine,
        clock=runtime.clock,
        settings=settings,
        queue=runtime.queue,
        store=runtime.memory,
        changes=MemoryChanges(runtime.memory.folder, runtime.memory_history),
        sent=sent,
        actor=runtime.actor,
    )
    if args.json:
        print_json({**learned.as_json(), "addresses": addresses})
        return 0
    console.print(
        f"Read {learned.read} of your messages ({', '.join(addresses)}) of {learned.scanned} "
        f"in {learned.folder}; {learned.report.messages} have text of your own:",
        highlight=False,
    )
    for line in describe(learned.report):
        console.print(f"  {line}", highlight=False, markup=False)
    if learned.outcome == "up_to_date":
        console.print(
            f"{learned.file} is already up to date: {learned.covered_by} already makes this "
            "change.",
            highlight=False,
        )
    elif learned.outcome == "applied":
        assert learned.revision is not None
        console.print(
            f"Applied to {learned.file} as {learned.revision[:10]} (memory.auto_apply); "
            "`ambient memory undo` reverts it.",
            highlight=False,
        )
    else:
        console.print(
            f"Proposed a change to {learned.file} as approval {learned.approval_id} "
            f"({learned.status}): `ambient approvals show {learned.approval_id}` shows the diff.",
            highlight=False,
        )
    return 0


def _cmd_memory(args: argparse.Namespace, runtime: Runtime) -> int:
    import os

    from ambient.core.editing import editor_command
    from ambient.memory.editing import edit_file

    store, command = runtime.memory, args.memory_command
    if command == "list":
        return _memory_list(args, store)
    if command in ("log", "undo"):
        return _memory_log(args, runtime)
    if command == "learn-style":
        return _learn_style(args, runtime)
    if command == "show":
        shown = _file(store, args.file)
        print_json(shown) if args.json else sys.stdout.write(shown["text"])
        return 0
    if command == "search":
        hits = [
            {"file": hit.file, "line": hit.line, "text": hit.text}
            for hit in store.search(args.query, limit=args.limit)
        ]
        lines = [f"{hit['file']}:{hit['line']}: {hit['text']}" for hit in hits]
        print_json(hits) if args.json else sys.stdout.write("".join(f"{x}\n" for x in lines))
        return 0 if hits else 1
    audit = _audit(runtime)
    edited = edit_file(store, args.file, editor_command(os.environ), audit)
    _warn_deferred(audit)
    if args.json:
        print_json({"file": edited.file, "changed": edited.changed, "revision": edited.revision})
    else:
        console.print(f"{edited.file}: " + ("saved" if edited.changed else "unchanged"))
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
    style = memory_sub.add_parser(
        "learn-style", help="propose writing_style.md from the mail you sent (read-only)"
    )
    style.add_argument(
        "--source",
        default=None,
        help="the IMAP source whose Sent folder to read (default: the only one)",
    )
    style.add_argument(
        "--maildir", type=Path, default=None, help="read a Maildir folder of your sent mail instead"
    )
    style.add_argument(
        "--limit", type=int, default=None, help="your newest N messages (default: 200)"
    )
    style.add_argument("--json", action="store_true")
    memory.set_defaults(handler=_cmd_memory)
