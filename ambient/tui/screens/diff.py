"""The edited draft as a diff against what the agent drafted, before it is approved."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ambient.tui.widgets.detail import diff_text


class DiffReview(ModalScreen[bool]):
    """Approve the edited version (y) or go back with the edit kept (n / Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,a", "answer(True)", "Approve edit"),
        Binding("n,escape", "answer(False)", "Back"),
    ]

    def __init__(self, title: str, diff: str) -> None:
        super().__init__()
        self.title_text = title
        self.diff = diff

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="diff"):
                yield Static(diff_text(self.diff), markup=False, id="diff")
            yield Label(
                "y: approve the edited version · n / Esc: back (the edit is kept)",
                classes="dialog-hint",
            )

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
