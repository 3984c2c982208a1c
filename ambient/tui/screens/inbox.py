"""Review what the agent let pass: the inbox of "notify" items (r: read) and the recent
"ignore" decisions (c: confirm; o: overturn: the item runs again as the user's request to act
on it, and memory learns from it). 1 and 2 switch between the two lists; an item a pre-rule
decided without a model says which rule, in its row ("rule") and its detail."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from ambient.core.items import ItemState, Review
from ambient.core.review import Overturn, ReviewEntry, ReviewOutcome
from ambient.tui.app import AmbientScreen
from ambient.tui.backend import Backend
from ambient.tui.screens.prompt import TextPrompt
from ambient.tui.timefmt import age
from ambient.tui.views import ItemView
from ambient.tui.widgets.detail import _item, _section
from ambient.tui.widgets.row_list import Column, Row, RowList

INBOX_COLUMNS = (
    Column("state", 6),
    Column("from", 20),
    Column("what · why it matters", 0),
    Column("by", 4),
    Column("age", 4, align_right=True, age=True),
    Column("!", 1),
)
IGNORED_COLUMNS = (
    Column("review", 10),
    Column("from", 18),
    Column("what · why it was ignored", 0),
    Column("by", 4),
    Column("age", 4, align_right=True, age=True),
)
TABS = {"inbox": "1 Inbox", "ignored": "2 Ignored"}
WAITING = {"inbox": Review.UNREAD, "ignored": Review.UNREVIEWED}
KEYS_OF = {"read": "inbox", "confirm": "ignored", "overturn": "ignored"}


def review_row(entry: ReviewEntry, ignored: bool) -> Row:
    by = "rule" if entry.pre_rule else ""
    state, who, what = entry.review.value, entry.who, entry.what
    if ignored:
        cells: tuple[str, ...] = (state, who, what, by, "")
    else:
        cells = (state, who, what, by, "", "!" if entry.priority == "high" else "")
    return Row(key=entry.item_id, cells=cells, when=entry.received_at)


def entry_text(entry: ReviewEntry, item: ItemView | None, now_text: str) -> Text:
    """The detail: the decision and why, who decided (the model or a pre-rule), the review,
    then the original item (its text is the email's: plain text, never markup)."""
    text = Text()
    decided = "ignored" if entry.decision == "ignore" else entry.decision
    _section(text, f"{decided} · priority {entry.priority}")
    for label, value in (
        ("Summary", entry.summary),
        ("Why", entry.reason),
        ("Decided by", f"pre-rule {entry.pre_rule} (no model)" if entry.pre_rule else "the model"),
        ("Review", f"{entry.review.value}{now_text}"),
        ("Your words", entry.note),
    ):
        if value:
            text.append(f"{label}: ", style="bold")
            text.append(value + "\n")
    if entry.review == Review.OVERTURNED and entry.state == ItemState.NEW:
        text.append("It runs again, as act, when the daemon next works.\n", style="italic")
    elif entry.review == Review.OVERTURNED:
        text.append(f"It ran again, as act: now {entry.state.value}.\n", style="italic")
    if item is not None:
        _item(text, item)
    return text[1:]  # the first section's leading blank line


class ReviewScreen(AmbientScreen):
    DEFAULT_CSS = """
    ReviewScreen #review-detail {
        height: 1fr;
        border-top: solid $primary-background-lighten-2;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "tab('inbox')", "Inbox"),
        Binding("2", "tab('ignored')", "Ignored"),
        Binding("r", "read", "Read"),
        Binding("c", "confirm", "Confirm"),
        Binding("o", "overturn", "Overturn: act"),
        Binding("escape,q,v", "app.pop_screen", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.tab = "inbox"
        self.entries: dict[str, list[ReviewEntry]] = {"inbox": [], "ignored": []}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("", id="review-tabs", classes="screen-title")
        yield Static("", id="review-header", classes="list-header")
        yield RowList(INBOX_COLUMNS, now=self.ambient.clock.now, id="review-list")
        with VerticalScroll(id="review-detail", classes="review-detail"):
            yield Static("", id="review-detail-text", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show_rows()

    # ---- loading -------------------------------------------------------------------------
    def reload(self) -> None:
        self.load_entries()

    @work(exclusive=True, thread=True, group="review")
    def load_entries(self) -> None:
        backend = self.ambient.backend
        try:
            entries = {
                "inbox": backend.review_entries(False),
                "ignored": backend.review_entries(True),
            }
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.notify, f"database: {error}", severity="error")
            return
        self.app.call_from_thread(self._show, entries)

    def _show(self, entries: dict[str, list[ReviewEntry]]) -> None:
        changed = entries != self.entries or not self.loaded
        self.entries = entries
        ignored = self.tab == "ignored"
        row_list = self.query_one(RowList)
        row_list.columns = list(IGNORED_COLUMNS if ignored else INBOX_COLUMNS)
        row_list.empty_text = (
            "No ignore decisions yet." if ignored else "No notify items: nothing to read. ✓"
        )
        row_list.set_rows([review_row(entry, ignored) for entry in entries[self.tab]])
        self.loaded = True
        self._show_tabs()
        width = max(self.size.width, 20)
        header = Text(row_list.header_text(width - 1), no_wrap=True, overflow="ellipsis")
        self.query_one("#review-header", Static).update(header)
        if changed:
            self._load_current()

    def _show_tabs(self) -> None:
        text = Text("Review  ")
        for tab, label in TABS.items():
            waiting = sum(1 for entry in self.entries[tab] if entry.review == WAITING[tab])
            note = f" ({waiting} {'unread' if tab == 'inbox' else 'to review'})" if waiting else ""
            style = "reverse bold" if tab == self.tab else "dim"
            text.append(f" {label}{note} ", style=style)
            text.append("  ")
        self.query_one("#review-tabs", Static).update(text)

    def _current(self) -> ReviewEntry | None:
        key = self.query_one(RowList).current_key
        return next((e for e in self.entries[self.tab] if e.item_id == key), None)

    def _load_current(self) -> None:
        entry = self._current()
        if entry is None:
            self.query_one("#review-detail-text", Static).update(Text(""))
        else:
            self.load_detail(entry)

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        self._load_current()

    @work(exclusive=True, thread=True, group="review-detail")
    def load_detail(self, entry: ReviewEntry) -> None:
        try:
            item = self.ambient.backend.item_view(entry.item_id)
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.notify, f"database: {error}", severity="error")
            return
        self.app.call_from_thread(self._show_detail, entry, item)

    def _show_detail(self, entry: ReviewEntry, item: ItemView | None) -> None:
        if self.query_one(RowList).current_key != entry.item_id:
            return
        when = age(entry.reviewed_at, self.ambient.clock.now())
        reviewed = (
            "" if entry.reviewed_at is None else f", {when}" + ("" if when == "now" else " ago")
        )
        self.query_one("#review-detail-text", Static).update(entry_text(entry, item, reviewed))

    # ---- keys ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Each list's own keys in the footer: read on the inbox, confirm and overturn on the
        ignored."""
        return KEYS_OF.get(action, self.tab) == self.tab

    def action_tab(self, tab: str) -> None:
        if tab != self.tab:
            self.tab = tab
            self.query_one(RowList).clear_marks()
            self._show(self.entries)
            self.refresh_bindings()

    def _targets(self) -> list[int]:
        row_list = self.query_one(RowList)
        if row_list.marked:
            return sorted(row_list.marked)
        return [row_list.current_key] if row_list.current_key is not None else []

    def action_read(self) -> None:
        if targets := self._targets():
            self.review(lambda backend: backend.read_items(targets), "read")

    def action_confirm(self) -> None:
        if targets := self._targets():
            self.review(
                lambda backend: backend.confirm_items(targets), "confirmed: rightly ignored"
            )

    def action_overturn(self) -> None:
        entry = self._current()
        if entry is None:
            return
        if entry.review not in (Review.UNREVIEWED, Review.CONFIRMED):
            self.notify(f"item {entry.item_id} is already overturned", severity="warning")
            return
        item_id = entry.item_id

        def answered(note: str | None) -> None:
            if note is not None:
                self.change(lambda backend: _overturned(backend, item_id, note))

        title = f"Overturn: act on item {item_id}. What should the agent do?"
        self.app.push_screen(
            TextPrompt(title, placeholder="e.g. reply that I will come", required=False), answered
        )

    @work(thread=True, group="review-change")
    def review(self, run: Callable[[Backend], Sequence[ReviewOutcome]], verb: str) -> None:
        self.store(run, lambda outcomes: self._reviewed(outcomes, verb))

    def _reviewed(self, outcomes: Sequence[ReviewOutcome], verb: str) -> None:
        done = [outcome.item_id for outcome in outcomes if outcome.ok]
        if done:
            self.notify(f"item {', '.join(map(str, done))} {verb}")
        for outcome in outcomes:
            if not outcome.ok:
                self.notify(f"item {outcome.item_id}: {outcome.reason}", severity="error")
        self.query_one(RowList).clear_marks()
        self.reload()

    @work(thread=True, group="review-change")
    def change(self, run: Callable[[Backend], str]) -> None:
        self.store(run, self._changed)

    def _changed(self, message: str) -> None:
        self.notify(message, timeout=8)
        self.reload()


def _overturned(backend: Backend, item_id: int, note: str) -> str:
    overturn: Overturn = backend.overturn(item_id, note)
    said = f"item {item_id} runs again: the agent is told you want it acted on"
    if overturn.pre_rule:
        return f"{said}. The pre-rule {overturn.pre_rule} ignored it: change it in ambient.toml"
    return f"{said}; memory will learn from it"
