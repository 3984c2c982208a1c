"""One line at the top: is the daemon alive, when each source last polled, counts, the model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from ambient.daemon.health import DaemonHealth
from ambient.tui.timefmt import age

# Ledger states as the status bar spells them (short: it is one line of 80 cells).
STATE_LABELS = {
    "new": "new",
    "processing": "busy",
    "awaiting_approval": "waiting",
    "done": "done",
    "failed": "failed",
    "quarantined": "quar",
}


@dataclass(frozen=True)
class SourceView:
    name: str
    last_poll_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class StatusSnapshot:
    health: DaemonHealth
    sources: tuple[SourceView, ...]
    item_counts: dict[str, int]
    pending: int
    model: str
    now: datetime


def status_text(snapshot: StatusSnapshot) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    health = snapshot.health
    if health.alive:
        text.append("● daemon running", style="bold green")
    else:
        text.append(f"○ daemon {health.status}", style="bold red")
    text.append(f" · {snapshot.model or 'model ?'}", style="italic")
    for source in snapshot.sources:
        text.append(" │ ", style="dim")
        style = "red" if source.last_error else ""
        marker = "!" if source.last_error else ""
        text.append(f"{source.name}{marker} {age(source.last_poll_at, snapshot.now)}", style=style)
    text.append(" │ ", style="dim")
    text.append(f"{snapshot.pending} to decide", style="bold")
    counted = [(s, label) for s, label in STATE_LABELS.items() if snapshot.item_counts.get(s)]
    if counted:
        text.append(" │ items:", style="dim")
    for state, label in counted:
        style = "red" if state in ("failed", "quarantined") else ""
        text.append(f" {label} {snapshot.item_counts[state]}", style=style)
    return text


class StatusBar(Static):
    """Shows the latest StatusSnapshot; the screen's worker hands it down."""

    DEFAULT_CSS = """
    StatusBar { height: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__("connecting to the database…", id=id)
        self.snapshot: StatusSnapshot | None = None

    def show(self, snapshot: StatusSnapshot) -> None:
        self.snapshot = snapshot
        self.update(status_text(snapshot))
