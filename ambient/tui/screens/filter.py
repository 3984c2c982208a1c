"""Search and filter the queue: free text, source, sender, kind, status."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select

from ambient.approvals.kinds import KINDS
from ambient.approvals.tables import AWAITING_HUMAN, ApprovalStatus
from ambient.tui.views import QueueFilter

QUEUE_STATUSES: tuple[tuple[str, str], ...] = (
    ("waiting for you (pending + blocked)", "pending"),
    ("blocked by policy only", "blocked"),
)
HISTORY_STATUSES: tuple[tuple[str, str], ...] = (
    ("any decided", ""),
    *((status.value, status.value) for status in ApprovalStatus if status not in AWAITING_HUMAN),
)


class FilterDialog(ModalScreen[QueueFilter | None]):
    """Enter applies the filter; Ctrl+R clears it; Escape leaves it as it was."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+r", "clear", "Clear all", priority=True),
    ]

    def __init__(
        self,
        current: QueueFilter,
        *,
        statuses: tuple[tuple[str, str], ...] = QUEUE_STATUSES,
        default_status: str = "pending",
    ) -> None:
        super().__init__()
        self.current = current
        self.statuses = statuses
        self.default_status = default_status

    def compose(self) -> ComposeResult:
        current = self.current
        with Vertical(classes="dialog"):
            yield Label("Search and filter", classes="dialog-title")
            with Grid(id="filter-grid"):
                yield Label("Text")
                yield Input(
                    current.text, placeholder="subject, sender, summary", id="text", compact=True
                )
                yield Label("Source")
                yield Input(current.source, placeholder="e.g. inbox", id="source", compact=True)
                yield Label("Sender")
                yield Input(
                    current.sender, placeholder="address or name", id="sender", compact=True
                )
                yield Label("Kind")
                yield Select(
                    [(kind.label, kind.name) for kind in KINDS],
                    value=current.kind or Select.NULL,
                    prompt="any",
                    compact=True,
                    id="kind",
                )
                yield Label("Status")
                known = {value for _, value in self.statuses}
                yield Select(
                    list(self.statuses),
                    value=current.status if current.status in known else self.default_status,
                    allow_blank=False,
                    compact=True,
                    id="status",
                )
            yield Label("Enter: apply · Ctrl+R: clear · Esc: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#text", Input).focus()

    def _value(self) -> QueueFilter:
        kind = self.query_one("#kind", Select).value
        status = self.query_one("#status", Select).value
        return QueueFilter(
            text=self.query_one("#text", Input).value.strip(),
            source=self.query_one("#source", Input).value.strip(),
            sender=self.query_one("#sender", Input).value.strip(),
            kind=kind if isinstance(kind, str) else "",
            status=status if isinstance(status, str) else self.default_status,
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(self._value())

    def action_clear(self) -> None:
        self.dismiss(QueueFilter(status=self.default_status))

    def action_cancel(self) -> None:
        self.dismiss(None)
