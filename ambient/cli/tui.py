"""`ambient` commands: tui: the review UI."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ambient.runtime import Runtime


def _cmd_tui(args: argparse.Namespace, runtime: Runtime) -> int:
    import os

    from ambient.core.editing import editor_command
    from ambient.tui.app import run_tui

    editor = args.editor or editor_command(os.environ)
    return run_tui(runtime, editor=editor)


def add_tui_commands(subparsers: Any) -> None:
    tui = subparsers.add_parser("tui", help="review and decide what the agent drafted")
    tui.add_argument(
        "--editor", default=None, help="editor command for drafts (default: $VISUAL, $EDITOR)"
    )
    tui.set_defaults(handler=_cmd_tui)
