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
    decided_by_rules: int = 0  # items a pre-rule decided without a model, all time
    to_read: int = 0  # notify items not read yet (core.review)
    to_review: int = 0  # ignore decisions not confirmed or overturned yet


# When the line is too narrow, the lowest rank goes first: the done count, the other counts
# (and how many a pre-rule decided), the sources' poll ages, the model; problems (failed
# items, a source in error) and what waits for you (to decide, to read, to review) stay
# longest; the daemon's state always stays.
DAEMON, TO_DECIDE, PROBLEM, MODEL, SOURCE, COUNT, DONE_COUNT = 7, 6, 5, 4, 3, 2, 1


@dataclass(frozen=True)
class Part:
    rank: int
    text: Text
    group: str = ""  # "items": shown after one " │ items:" label


def status_parts(snapshot: StatusSnapshot) -> list[Part]:
    """The status line's parts in display order, each with its rank."""
    health = snapshot.health
    if health.alive:
        parts = [Part(DAEMON, Text("● daemon running", style="bold green"))]
    else:
        parts = [Part(DAEMON, Text(f"○ daemon {health.status}", style="bold red"))]
    parts.append(Part(MODEL, Text(f" · {snapshot.model or 'model ?'}", style="italic")))
    for source in snapshot.sources:
        marker, style = ("!", "red") if source.last_error else ("", "")
        polled = Text(f"{source.name}{marker} {age(source.last_poll_at, snapshot.now)}", style)
        parts.append(Part(PROBLEM if source.last_error else SOURCE, separated(polled)))
    parts.append(Part(TO_DECIDE, separated(Text(f"{snapshot.pending} to decide", "bold"))))
    for waiting, label in ((snapshot.to_read, "to read"), (snapshot.to_review, "to review")):
        if waiting:
            parts.append(Part(TO_DECIDE, Text(f" · {waiting} {label}", "bold")))
    for state, label in STATE_LABELS.items():
        count = snapshot.item_counts.get(state)
        if not count:
            continue
        problem = state in ("failed", "quarantined")
        rank = PROBLEM if problem else (DONE_COUNT if state == "done" else COUNT)
        parts.append(Part(rank, Text(f" {label} {count}", "red" if problem else ""), "items"))
    if snapshot.decided_by_rules:
        parts.append(Part(COUNT, Text(f" by rule {snapshot.decided_by_rules}"), "items"))
    return parts


def separated(text: Text) -> Text:
    return Text.assemble((" │ ", "dim"), text)


def joined(parts: list[Part]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    in_items = False
    for part in parts:
        if part.group == "items" and not in_items:
            text.append(" │ items:", style="dim")
            in_items = True
        text.append_text(part.text)
    return text


def status_text(snapshot: StatusSnapshot, width: int | None = None) -> Text:
    """The status line; within ``width`` cells, the least important parts are left out
    (the rightmost first among equals) until it fits."""
    parts = status_parts(snapshot)
    text = joined(parts)
    while width and text.cell_len > width and any(part.rank < DAEMON for part in parts):
        lowest = min(part.rank for part in parts)
        drop = max(index for index, part in enumerate(parts) if part.rank == lowest)
        del parts[drop]
        text = joined(parts)
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
        self.update(status_text(snapshot, self.content_size.width), layout=False)

    def on_resize(self) -> None:
        if self.snapshot is not None:
            self.show(self.snapshot)
