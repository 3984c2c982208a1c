"""The `ambient` command: parses arguments and calls into the packages, nothing more.

Errors from inside (AmbientError) become one red line and a meaningful exit code here.
Every command that reports or lists something takes --json (stable keys) for scripts.
One module per group of commands; each adds its subcommands to the parser.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.markup import escape

from ambient import __version__
from ambient.cli import alerts, approvals, autonomy, core, evals, memory, service, triage, tui
from ambient.cli.output import error_console, print_json
from ambient.core.clock import Clock
from ambient.core.config import Settings, load_settings
from ambient.core.errors import AmbientError, ConfigError

if TYPE_CHECKING:
    from ambient.runtime import Runtime

__all__ = ["build_parser", "entry", "main", "print_json"]

Handler = Callable[[argparse.Namespace, "Runtime"], int]
NEEDS_NO_SETUP = {"init", "triage", "service", "memory"}


def require_setup(settings: Settings) -> None:
    """Commands other than `init` need what `ambient init` creates: say so instead of failing
    later with a missing Maildir, or quietly creating an empty database."""
    if settings.database_url is not None:
        return
    if not settings.config_file.exists() and not settings.database_path.exists():
        raise ConfigError(
            f"ambient is not set up in {settings.config_dir}: run `ambient init` first"
        )


def check_policy_rules(settings: Settings) -> None:
    """`policy.rules` may only name rules some action kind has: a typo is a config error at
    once, naming the file, whatever the command (the kinds own their rules)."""
    from ambient.approvals.kinds import KINDS

    known = set(KINDS.rules())
    unknown = sorted(set(settings.policy.rules) - known)
    if unknown:
        raise ConfigError(
            f"{settings.config_file}: policy.rules: unknown rule {unknown[0]!r} "
            f"(known: {', '.join(sorted(known))})"
        )


def check_rule_actions(settings: Settings) -> None:
    """A `[[rules]]` action of an unknown kind, or with arguments its kind refuses, is a config
    error at once, naming the rule, whatever the command (as a bad pattern is)."""
    if any(rule.action is not None for rule in settings.rules):
        from ambient.agent.prerules import check_rule_actions as check

        check(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ambient",
        description="An ambient agent daemon: triages your inbox, drafts, waits for approval.",
    )
    parser.add_argument("--version", action="version", version=f"ambient {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    core.add_core_commands(subparsers)
    approvals.add_approvals_commands(subparsers)
    autonomy.add_autonomy_commands(subparsers)
    triage.add_triage_commands(subparsers)
    memory.add_memory_commands(subparsers)
    tui.add_tui_commands(subparsers)
    service.add_service_commands(subparsers)
    evals.add_eval_commands(subparsers)
    alerts.add_alerts_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Run one command; `clock` (default: the system's) is the time every part decides with."""
    from ambient.runtime import Runtime

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings, secrets = load_settings()
        check_policy_rules(settings)
        check_rule_actions(settings)
        if args.command not in NEEDS_NO_SETUP:
            require_setup(settings)
        handler: Handler = args.handler
        runtime = Runtime(settings, secrets, clock)
        try:
            return handler(args, runtime)
        finally:
            runtime.close()
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
