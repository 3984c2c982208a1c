"""How the CLI prints: Rich for people, JSON with stable keys for scripts."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from ambient.core.calendar_text import event_lines
from ambient.core.message import ParsedMessage

console = Console()
error_console = Console(stderr=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, sort_keys=True) + "\n")


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"


def message_json(message: ParsedMessage | None) -> dict[str, Any]:
    """What `show --json` adds of an item's email: its calendar invite, parts not read."""
    invite = message.calendar if message is not None else None
    return {
        "calendar": invite.as_json() if invite is not None else None,
        "part_problems": list(message.part_problems) if message is not None else [],
    }


def print_event(out: Console, message: ParsedMessage | None) -> None:
    """An item's calendar invite (what, when, where, who) and the parts that could not be
    read, as plain text (it is the email's, untrusted: never markup)."""
    if message is None:
        return
    for problem in message.part_problems:
        out.print(Text.assemble(("note: ", "bold yellow"), problem))
    if message.calendar is not None:
        for number, (label, value) in enumerate(event_lines(message.calendar)):
            indent = "" if number == 0 else "  "
            out.print(Text.assemble((f"{indent}{label.lower()}: ", "bold"), value))
