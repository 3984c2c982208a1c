"""Every key, on one screen."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEY_WIDTH = 10  # with the indent and the meaning, every line fits 76 cells (80x24 terminal)

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Decide (the highlighted row, or every marked row)",
        (
            ("a", "approve (asks first when the policy warned)"),
            ("e", "edit the draft ($EDITOR or in the app), see the diff, approve"),
            ("f", "feedback: tell the agent what to change; it drafts again"),
            ("r", "reject, with an optional reason"),
            ("i", "ignore: nothing is sent, nothing learned"),
            ("u", "undo the last decision (while it has not run)"),
            ("space", "mark / unmark a row for a bulk decision (x clears all)"),
        ),
    ),
    (
        "Move",
        (
            ("↑ ↓  j k", "previous / next row (PgUp PgDn: page; g G: first, last)"),
            ("tab", "switch between the list and the detail (to scroll it)"),
        ),
    ),
    (
        "Screens",
        (
            ("/", "search and filter (source, sender, kind, status)"),
            ("h", "history: decided and executed actions; retry a failed one"),
            ("m", "memory: files, proposed changes, history with undo"),
            ("ctrl+l", "refresh now (? shows this help)"),
            ("q", "quit (or back, on another screen)"),
        ),
    ),
)


def keys_text() -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    sections = []
    for title, keys in KEYS:
        section = Text(title + "\n", style="bold underline")
        for key, meaning in keys:
            section.append(f"  {key:<{KEY_WIDTH}}", style="bold cyan")
            section.append(meaning + "\n")
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
