"""The main screen: the queue of pending actions, the detail of one, a key per decision."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Static

from ambient.tui.listing import Listing, sync
from ambient.tui.screens.deciding import DecidingScreen, asks
from ambient.tui.screens.filter import FilterDialog
from ambient.tui.views import ApprovalView, QueueEntry, QueueFilter
from ambient.tui.widgets.detail import DetailPane
from ambient.tui.widgets.row_list import Column, RowList
from ambient.tui.widgets.status_bar import StatusBar, StatusSnapshot

QUEUE_COLUMNS = (
    Column("kind", 7),
    Column("who / what", 22),
    Column("summary", 0),
    Column("age", 4, align_right=True, age=True),
    Column("!", 1),
)
FULL_CHECK_EVERY = 15  # polls; a safety net under the change token
ANSWERING = frozenset({"answer", "approve", "edit", "feedback"})  # which depends on the row


class QueueScreen(DecidingScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve"),
        Binding("e", "edit", "Edit"),
        Binding("f", "feedback", "Feedback"),
        Binding("n", "answer", "Answer"),  # shown on the agent's question only
        Binding("r", "reject", "Reject"),
        Binding("i", "ignore", "Ignore"),
        Binding("u", "undo", "Undo"),
        Binding("x", "clear_marks", "Unmark all", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("h", "history", "History", show=False),
        Binding("m", "memory", "Memory", show=False),
        Binding("A", "autonomy", "Autonomy", show=False),
        Binding("v", "review", "Review", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+l", "refresh", "Refresh", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.queue_filter = QueueFilter()
        self._token: tuple[object, ...] | None = None
        self._polls = 0
        self._polling = False
        self._force_next = False
        self._check_next = False  # a decision was stored while a poll ran
        self._left: set[int] = set()  # decided here since the token was read (see `sync`)
        self._left_polled: frozenset[int] = frozenset()  # those the running poll accounts for
        self._last_error: str | None = None
        self._shown_filter: QueueFilter | None = None  # what the listing on screen is for
        self.loaded = False  # the first listing has arrived (tests and the bench wait on it)

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Static("", id="queue-header", classes="list-header")
        yield RowList(
            QUEUE_COLUMNS,
            now=self.ambient.clock.now,
            empty_text="Nothing waits for you. ✓",
            id="queue",
        )
        yield DetailPane(id="detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(RowList).focus()
        self._update_header()
        self.refresh_all(force=True)
        self.set_interval(self.ambient.poll_seconds, self.refresh_all)

    def on_resize(self) -> None:
        self._update_header()

    # ---- polling ---------------------------------------------------------------------------
    def refresh_all(self, force: bool = False) -> None:
        self._polls += 1
        force = force or self._polls % FULL_CHECK_EVERY == 0
        if self._polling:  # one listing at a time; a forced one runs right after
            self._force_next = self._force_next or force
        else:
            self._start_poll(force)
        self.poll_status()

    def rows_left(self, ids: tuple[int, ...]) -> None:
        """Decisions stored here took these rows off the queue (and the screen): check the
        token now; the rows are read again only if something else changed too."""
        self._left.update(ids)
        if self._polling:
            self._check_next = True
        else:
            self._start_poll(False)
        self.poll_status()

    def _start_poll(self, force: bool) -> None:
        self._polling = True
        self._left_polled = frozenset(self._left)
        self.poll_queue(force, self.queue_filter, self.entries, self._left_polled)

    @work(thread=True, group="queue")
    def poll_queue(
        self,
        force: bool,
        queue_filter: QueueFilter,
        known: dict[int, QueueEntry],
        left: frozenset[int],
    ) -> None:
        try:
            token = sync(
                self.ambient.backend,
                queue_filter,
                known,
                self._token,
                force=force,
                on_screen=queue_filter == self._shown_filter,
                show=lambda listing: self.app.call_from_thread(self._show_listing, listing),
                left=left,
            )
            if token is not None:
                self.app.call_from_thread(self._unchanged, token, queue_filter)
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.report_error, error)
        finally:
            self.app.call_from_thread(self._poll_done)

    def _unchanged(self, token: tuple[object, ...], queue_filter: QueueFilter) -> None:
        self._last_error = None
        if queue_filter == self.queue_filter:
            self._token = token
            self._left -= self._left_polled

    def _poll_done(self) -> None:
        self._polling = False
        if self._force_next:
            self._force_next = self._check_next = False
            self._polls -= 1  # not a timer tick
            self.refresh_all(force=True)
        elif self._check_next:
            self._check_next = False
            self._start_poll(False)

    @work(exclusive=True, thread=True, group="status")
    def poll_status(self) -> None:
        try:
            snapshot = self.ambient.backend.status()
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.report_error, error)
            return
        self.app.call_from_thread(self._show_status, snapshot)

    def _show_status(self, snapshot: StatusSnapshot) -> None:
        if not self.query(StatusBar):  # the app closed while the snapshot was read
            return
        self.query_one(StatusBar).show(snapshot)
        self.query_one(RowList).refresh()  # the rows' ages move on with the status bar's

    def report_error(self, error: BaseException) -> None:
        message = f"database: {error}".splitlines()[0][:300]
        if message != self._last_error:  # once per problem, not once a second
            self._last_error = message
            self.notify(message, severity="error", timeout=8)

    def _show_listing(self, listing: Listing) -> None:
        if listing.queue_filter != self.queue_filter:
            return  # the filter changed while this listing was read
        self._last_error = None
        if listing.token is not None:
            self._token = listing.token
            self._left -= self._left_polled
        self._shown_filter = listing.queue_filter
        self.entries = listing.entries
        row_list = self.query_one(RowList)
        if self._deciding:
            row_list.set_rows([row for row in listing.rows if row.key not in self._deciding])
        else:
            row_list.set_rows(listing.rows)
        if not self.loaded:
            self.ambient.first_listing_shown()
        self.loaded = True
        self._update_header()
        detail = self.query_one(DetailPane)
        current = row_list.current_key
        if current is None:
            detail.show(None, self.ambient.clock.now(), self._empty_text())
            self.refresh_bindings()
        elif (
            detail.view is None
            or detail.view.id != current
            or (detail.view.shown_hash != self.entries[current].shown_hash)
        ):
            self.load_detail(current)

    def _empty_text(self) -> str:
        if self.queue_filter.active:
            return f"Nothing matches {self.queue_filter.describe()} (/ to change)."
        return "New drafts appear here as the daemon writes them. Press ? for every key."

    def _update_header(self) -> None:
        row_list = self.query_one(RowList)
        width = max(self.size.width, 20)
        header = Text(row_list.header_text(width - 1), no_wrap=True, overflow="ellipsis")
        count = len(row_list.rows)
        marked = len(row_list.marked)
        note = f" {count} shown" + (f", {marked} marked" if marked else "")
        if self.queue_filter.active:
            note += f" · {self.queue_filter.describe()}"
        header = Text(header.plain[: max(width - len(note) - 1, 0)].ljust(width - len(note) - 1))
        header.append(note, style="italic")
        self.query_one("#queue-header", Static).update(header)

    # ---- the detail -----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """On the agent's question n answers it, and a, e and f are not offered (a question is
        answered, never approved); with rows marked, the bulk keys are, n is not."""
        if action not in ANSWERING:
            return True
        rows, details = self.query(RowList), self.query(DetailPane)
        if not rows or not details or rows.first().marked:
            return action != "answer"
        view = details.first().view
        question = view is not None and asks(view.kind)
        return question if action == "answer" else not question

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        if event.key is None:
            self.query_one(DetailPane).show(None, self.ambient.clock.now(), self._empty_text())
            self.refresh_bindings()
        else:
            self.load_detail(event.key)

    def on_row_list_marks_changed(self, event: RowList.MarksChanged) -> None:
        self._update_header()
        self.refresh_bindings()

    @work(exclusive=True, thread=True, group="detail")
    def load_detail(self, approval_id: int) -> None:
        try:
            view = self.ambient.backend.approval_view(approval_id)
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.report_error, error)
            return
        self.app.call_from_thread(self._show_detail, view)

    def _show_detail(self, view: ApprovalView) -> None:
        if self.query_one(RowList).current_key == view.id:
            self.query_one(DetailPane).show(view, self.ambient.clock.now())
            self.refresh_bindings()

    # ---- other screens -----------------------------------------------------------------------
    def action_filter(self) -> None:
        def chosen(queue_filter: QueueFilter | None) -> None:
            if queue_filter is not None and queue_filter != self.queue_filter:
                self.queue_filter = queue_filter
                self.query_one(RowList).clear_marks()
                self._update_header()
                self.refresh_all(force=True)

        self.app.push_screen(FilterDialog(self.queue_filter), chosen)

    def action_refresh(self) -> None:
        self.refresh_all(force=True)

    def action_help(self) -> None:
        self.ambient.action_help()

    def action_history(self) -> None:
        self.ambient.action_history()

    def action_memory(self) -> None:
        self.ambient.action_memory()

    def action_autonomy(self) -> None:
        self.ambient.action_autonomy()

    def action_review(self) -> None:
        self.ambient.action_review()
