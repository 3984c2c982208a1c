"""In-app editing of a draft when no $EDITOR is set: a TextArea, validated on save."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea

from ambient.core.errors import DecisionError


class DraftEditor(ModalScreen[str | None]):
    """Edit text; Ctrl+S checks it with `validate` and answers it, Escape answers None.

    Whatever was typed is handed to `keep` on leaving either way, so an edit is never lost.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel (keeps the edit)", priority=True),
    ]

    def __init__(
        self,
        title: str,
        text: str,
        validate: Callable[[str], Any],
        keep: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.title_text = title
        self.initial = text
        self.validate = validate
        self.keep = keep

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog editor"):
            yield Label(self.title_text, classes="dialog-title")
            yield TextArea(self.initial, id="draft", soft_wrap=True, show_line_numbers=False)
            yield Label("", id="problem", classes="dialog-error")
            yield Label(
                "Ctrl+S: check and continue · Esc: leave (edit kept)", classes="dialog-hint"
            )

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    @property
    def current_text(self) -> str:
        return self.query_one(TextArea).text

    def action_save(self) -> None:
        text = self.current_text
        self.keep(text)
        try:
            self.validate(text)
        except DecisionError as error:
            self.query_one("#problem", Label).update(str(error))
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.keep(self.current_text)
        self.dismiss(None)
