"""`ambient` commands: approvals and the audit log: deciding without the TUI."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ambient.approvals.tables import ApprovalStatus
from ambient.cli.output import console

if TYPE_CHECKING:
    from ambient.runtime import Runtime


def _cmd_approvals(args: argparse.Namespace, runtime: Runtime) -> int:
    import os

    from ambient.cli.approvals_commands import open_commands
    from ambient.core.editing import editor_command

    command, as_json = args.approvals_command, args.json
    commands = open_commands(runtime, console)
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
    if command == "answer":
        return commands.answer(args.id, args.hash, args.text, args.choice, as_json=as_json)
    if command == "edit":
        return commands.edit(
            args.id,
            args.hash,
            assignments=args.set,
            args_json=args.args_json,
            editor=editor_command(os.environ),
            ack=args.ack,
            as_json=as_json,
        )
    if command == "undo":
        return commands.undo(args.id, as_json=as_json)
    if command == "delivered":
        return commands.delivered(args.id, as_json=as_json)
    return commands.retry(args.id, as_json=as_json)


def _cmd_log(args: argparse.Namespace, runtime: Runtime) -> int:
    from ambient.cli.approvals_commands import open_commands

    commands = open_commands(runtime, console)
    return commands.log(
        args.approval,
        args.item,
        args.limit,
        verify=args.verify,
        as_json=args.json,
        verbose=args.verbose,
    )


def add_approvals_commands(subparsers: Any) -> None:
    approvals = subparsers.add_parser("approvals", help="review and decide drafted actions")
    sub = approvals.add_subparsers(dest="approvals_command", required=True)
    statuses = [status.value for status in ApprovalStatus]
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
    answer = sub.add_parser("answer", help="answer the agent's question; it drafts with it")
    answer.add_argument("id", type=int)
    answer.add_argument("text", nargs="?", default=None, help="your answer, in your own words")
    answer.add_argument("--choice", type=int, default=None, metavar="N", help="choice N (from 1)")
    answer.add_argument("--hash", default=None, help=hash_help)
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
        ("delivered", "close an email whose delivery is uncertain as delivered (it arrived)"),
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
    log.add_argument(
        "--verify", action="store_true", help="only check the hash chain (exit 1: broken)"
    )
    log.add_argument("-v", "--verbose", action="store_true", help="with --verify: the entries too")
    log.add_argument("--json", action="store_true")
    log.set_defaults(handler=_cmd_log)
