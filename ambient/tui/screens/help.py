"""Every key, on one screen: the keys come from the bindings, so the help cannot drift."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import zip_longest
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from ambient.tui.screens.queue import QueueScreen
from ambient.tui.widgets.row_list import RowList

KEY_WIDTH = 10  # with the indent and the meaning, every line fits 76 cells (80x24 terminal)
KEY_NAMES = {
    "up": "↑",
    "down": "↓",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "slash": "/",
    "question_mark": "?",
}

# Per section, its lines: the actions whose keys a line shows, and what they do. In the text,
# "{action}" stands for that action's keys.
SECTIONS: tuple[tuple[str, tuple[tuple[tuple[str, ...], str], ...]], ...] = (
    (
        "Decide (the highlighted row, or every marked row)",
        (
            (("approve",), "approve (asks first when the policy warned)"),
            (("edit",), "edit the draft ($EDITOR or in the app), see the diff, approve"),
            (("feedback",), "feedback: the agent drafts again · {answer}: answer its question"),
            (("reject",), "reject, with an optional reason"),
            (("ignore",), "ignore: nothing is sent, nothing learned"),
            (("undo",), "undo the last decision (while it has not run)"),
            (
                ("toggle_mark",),
                "mark / unmark a row for a bulk decision ({clear_marks} clears all)",
            ),
        ),
    ),
    (
        "Move",
        (
            (
                ("cursor(-1)", "cursor(1)"),
                "previous / next row ({page(-1)} {page(1)}: page; "
                "{jump(0)} {jump(-1)}: first, last)",
            ),
            (("app.focus_next",), "switch between the list and the detail (to scroll it)"),
        ),
    ),
    (
        "Screens",
        (
            (("filter",), "search and filter (source, sender, kind, status)"),
            (
                ("history",),
                "history of decided actions · {review}: review notify and ignored items",
            ),
            (
                ("memory",),
                "memory: files, changes, undo · {autonomy}: autonomy, the kill switch",
            ),
            (("refresh",), "refresh now ({help} shows this help)"),
            (("app.quit",), "quit (or back, on another screen)"),
        ),
    ),
)


def main_screen_bindings() -> list[Binding]:
    """The bindings in effect on the queue: its own, its list's, and every screen's."""
    bindings = [*QueueScreen.BINDINGS, *RowList.BINDINGS, *Screen.BINDINGS]
    return [binding for binding in bindings if isinstance(binding, Binding)]


def _keys(binding: Binding) -> list[str]:
    return [KEY_NAMES.get(key.strip(), key.strip()) for key in binding.key.split(",")]


def keys_text(bindings: Iterable[Binding] | None = None) -> Text:
    by_action: dict[str, Binding] = {}
    for binding in main_screen_bindings() if bindings is None else bindings:
        by_action.setdefault(binding.action, binding)
    inline = {action: " ".join(_keys(binding)) for action, binding in by_action.items()}
    text = Text(no_wrap=True, overflow="ellipsis")
    sections = []
    for title, lines in SECTIONS:
        section = Text(title + "\n", style="bold underline")
        for actions, meaning in lines:
            columns = zip_longest(*(_keys(by_action[action]) for action in actions), fillvalue="")
            keys = "  ".join(" ".join(filter(None, column)) for column in columns)
            section.append(f"  {keys:<{KEY_WIDTH}}", style="bold cyan")
            section.append(meaning.format_map(inline) + "\n")
        sections.append(section)
    text.append_text(Text("\n").join(sections))
    text.rstrip()
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide"):
            yield Label("ambient — keys", classes="dialog-title")
            yield Static(keys_text())
            yield Label("Esc: close", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
