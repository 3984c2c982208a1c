"""`ambient` commands: service: running ambient as a systemd user service."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ambient.cli.output import console, error_console, print_json, when

if TYPE_CHECKING:
    from ambient.runtime import Runtime


def _cmd_service(args: argparse.Namespace, runtime: Runtime) -> int:
    import os

    from ambient.daemon import service_admin

    settings = runtime.settings
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
    status = service_admin.service_status(runtime.engine, runtime.clock, unit_dir)
    if args.json:
        print_json(status.as_json())
        return 0
    health = status.health
    alive = "[green]running[/]" if health.alive else "[red]not running[/]"
    console.print(f"daemon: {alive} ({health.status}); last heartbeat {when(health.beat_at)}")
    unit_state = "installed" if status.installed else "not installed"
    console.print(
        f"unit: {status.unit_path} ({unit_state}); systemd: {status.systemd or 'not reachable'}"
    )
    return 0 if health.alive else 1


def add_service_commands(subparsers: Any) -> None:
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
