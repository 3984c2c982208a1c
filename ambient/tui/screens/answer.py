"""Answering the agent's question: its words and numbered choices above a line for the answer.

The question is the model's text: it is shown as the agent's, as plain text (never markup). The
answer is the human's own words; a bare number picks that choice.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from ambient.approvals.kinds import Kind
from ambient.tui.screens.prompt import TextPrompt


def question_text(kind: Kind[Any], args: dict[str, Any]) -> Text:
    """The question as its kind shows it (`Agent asks: …`), then its numbered choices."""
    text = Text()
    for name, value in kind.shown_headers(args):
        text.append(f"{name}: ", style="bold")
        text.append(value + "\n")
    body = kind.shown_body(args)
    if body:
        text.append(body)
    text.rstrip()
    return text


def read_answer(typed: str, choices: int) -> tuple[str | None, int | None]:
    """`(text, choice)`: a bare number from 1 to `choices` picks that choice, else the words."""
    typed = typed.strip()
    if typed.isdigit() and 1 <= int(typed) <= choices:
        return None, int(typed)
    return typed, None


class AnswerPrompt(TextPrompt):
    """A TextPrompt with the agent's question above the line (Enter answers, Escape cancels)."""

    def __init__(self, approval_id: int, question: Text, choices: int) -> None:
        hint = " (a number picks a choice)" if choices else ""
        super().__init__(f"Answer #{approval_id}{hint}", placeholder="your answer")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.question, markup=False, classes="dialog-body")
            yield Input(placeholder=self.placeholder, id="answer")
            yield Label("Enter to send · Esc to cancel", classes="dialog-hint")
