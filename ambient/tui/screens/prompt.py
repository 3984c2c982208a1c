"""Small modal questions: a line of text (feedback, a reason) and yes/no."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line of text; Enter answers, Escape cancels (None)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, *, placeholder: str = "", required: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(placeholder=self.placeholder, id="answer")
            hint = "Enter to send · Esc to cancel"
            yield Label(hint if self.required else hint + " · empty is fine", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        answer = event.value.strip()
        if self.required and not answer:
            self.notify("Type something first (or Esc to cancel).", severity="warning")
            return
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """A yes/no question: y or Enter says yes; n or Escape says no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, body: Text | str = "") -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.body:
                yield Static(self.body, markup=False, classes="dialog-body")
            yield Label("y / Enter: yes · n / Esc: no", classes="dialog-hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
