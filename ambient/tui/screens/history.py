"""Decided and executed actions, with their results and errors and who decided (`auto`: an
earned-autonomy rule); retry a dead one, or close an email whose delivery is uncertain as
delivered."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Static

from ambient.approvals.autonomy import is_automatic
from ambient.approvals.kinds import KINDS
from ambient.tui.app import AmbientScreen
from ambient.tui.screens.filter import HISTORY_STATUSES, FilterDialog
from ambient.tui.views import ApprovalView, QueueEntry, QueueFilter
from ambient.tui.widgets.detail import DetailPane
from ambient.tui.widgets.row_list import Column, Row, RowList

HISTORY_COLUMNS = (
    Column("status", 9),
    Column("by", 4),
    Column("kind", 7),
    Column("who / what", 20),
    Column("summary", 0),
    Column("when", 4, align_right=True, age=True),
)


def history_row(entry: QueueEntry) -> Row:
    status = (
        entry.decision
        if (entry.status == "approved" and entry.decision == "edited")
        or entry.decision == "answered"  # a question, back with the agent
        else entry.status
    )
    by = "auto" if is_automatic(entry.decided_by) else ""  # an earned rule decided, not a human
    return Row(
        key=entry.id,
        cells=(status, by, KINDS.of(entry.kind).label, entry.concerns, entry.summary, ""),
        warning=entry.status in ("failed", "dead"),
        when=entry.decided_at or entry.created_at,
    )


class HistoryScreen(AmbientScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "retry", "Retry"),
        Binding("d", "delivered", "Delivered"),
        Binding("u", "undo", "Undo"),
        Binding("slash", "filter", "Filter"),
        Binding("escape,q,h", "app.pop_screen", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.queue_filter = QueueFilter(status="")
        self.entries: dict[int, QueueEntry] = {}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("History: decided and executed actions", classes="screen-title")
        yield Static("", id="history-header", classes="list-header")
        yield RowList(
            HISTORY_COLUMNS,
            now=self.ambient.clock.now,
            empty_text="No decisions yet.",
            id="history",
        )
        yield DetailPane(id="history-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show_rows()

    def reload(self) -> None:
        self.load_entries(self.queue_filter)

    @work(exclusive=True, thread=True, group="history")
    def load_entries(self, queue_filter: QueueFilter) -> None:
        try:
            entries = self.ambient.backend.history_entries(queue_filter)
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.notify, f"database: {error}", severity="error")
            return
        self.app.call_from_thread(self._show, entries, queue_filter)

    def _show(self, entries: list[QueueEntry], queue_filter: QueueFilter) -> None:
        if queue_filter != self.queue_filter:
            return
        now = self.ambient.clock.now()
        changed = [e.id for e in entries] != list(self.entries) or any(
            self.entries.get(e.id) != e for e in entries
        )
        self.entries = {entry.id: entry for entry in entries}
        row_list = self.query_one(RowList)
        row_list.set_rows([history_row(entry) for entry in entries])
        self.loaded = True
        width = max(self.size.width, 20)
        header = Text(row_list.header_text(width - 1), no_wrap=True, overflow="ellipsis")
        if self.queue_filter.describe():
            header.append(f" · {self.queue_filter.describe()}", style="italic")
        self.query_one("#history-header", Static).update(header)
        current = row_list.current_key
        if current is not None and changed:
            self.load_detail(current)
        elif current is None:
            self.query_one(DetailPane).show(None, now, "No decisions match.")

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        if event.key is not None:
            self.load_detail(event.key)

    @work(exclusive=True, thread=True, group="history-detail")
    def load_detail(self, approval_id: int) -> None:
        try:
            view = self.ambient.backend.approval_view(approval_id)
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.notify, f"database: {error}", severity="error")
            return
        self.app.call_from_thread(self._show_detail, view)

    def _show_detail(self, view: ApprovalView) -> None:
        if self.query_one(RowList).current_key == view.id:
            self.query_one(DetailPane).show(view, self.ambient.clock.now())

    def _current(self) -> QueueEntry | None:
        key = self.query_one(RowList).current_key
        return self.entries.get(key) if key is not None else None

    def action_retry(self) -> None:
        entry = self._current()
        if entry is None:
            return
        if entry.status == "failed":
            self.notify(
                f"#{entry.id} failed and the outbox retries it by itself (last error: "
                f"{entry.error or 'unknown'}).",
                severity="warning",
            )
            return
        if entry.status != "dead":
            self.notify(
                f"#{entry.id} is {entry.status}: only a dead action can be retried.",
                severity="warning",
            )
            return
        self.act(lambda backend: backend.retry(entry.id))

    def action_delivered(self) -> None:
        """The human checked: the email whose delivery was uncertain did arrive."""
        entry = self._current()
        if entry is None:
            return
        if entry.status != "dead":
            self.notify(
                f"#{entry.id} is {entry.status}: only a dead email whose delivery is uncertain "
                "can be marked delivered.",
                severity="warning",
            )
            return
        self.act(lambda backend: backend.mark_delivered(entry.id))

    def action_undo(self) -> None:
        entry = self._current()
        if entry is not None:
            self.act(lambda backend: backend.undo([entry.id]))

    def action_filter(self) -> None:
        def chosen(queue_filter: QueueFilter | None) -> None:
            if queue_filter is not None:
                self.queue_filter = queue_filter
                self.reload()

        self.app.push_screen(
            FilterDialog(self.queue_filter, statuses=HISTORY_STATUSES, default_status=""), chosen
        )
