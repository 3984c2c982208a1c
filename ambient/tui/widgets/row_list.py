"""A virtual list of rows (Textual's line API): renders only what is visible, so ten thousand
pending actions cost no more than ten. Used by the queue and the history screens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ambient.tui.timefmt import age


@dataclass(frozen=True)
class Column:
    title: str
    width: int  # cells; 0 means "take the rest"
    align_right: bool = False
    age: bool = False  # shows the row's `when` as an age, worked out when drawn


@dataclass(frozen=True)
class Row:
    key: int  # the approval id
    cells: tuple[str, ...]  # one per column (an age column's cell is ignored)
    warning: bool = False
    when: datetime | None = None


def fit(text: str, width: int, *, align_right: bool = False) -> str:
    """Exactly `width` cells: cut with an ellipsis, or padded."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    padding = " " * (width - cell_len(text))
    return padding + text if align_right else text + padding


def column_widths(columns: Sequence[Column], total: int) -> list[int]:
    fixed = sum(column.width for column in columns) + len(columns)  # a space before each
    flexible = [index for index, column in enumerate(columns) if column.width == 0]
    rest = max(total - fixed, 0)
    widths = [column.width for column in columns]
    for position, index in enumerate(flexible):
        share = rest // len(flexible) + (1 if position < rest % len(flexible) else 0)
        widths[index] = share
    return widths


def render_cells(columns: Sequence[Column], cells: Sequence[str], total: int) -> str:
    widths = column_widths(columns, total)
    parts = [
        " " + fit(" ".join(cell.split()), width, align_right=column.align_right)
        for column, cell, width in zip(columns, cells, widths, strict=False)
    ]
    return fit("".join(parts), total)


class RowList(ScrollView, can_focus=True):
    """Rows with a cursor and a set of marked rows (multi-select)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("space", "toggle_mark", "Mark", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "row-list--cursor",
        "row-list--marked",
        "row-list--warning",
        "row-list--empty",
    }

    class Highlighted(Message):
        """The cursor moved to another row (or the list became empty: key None)."""

        def __init__(self, row_list: RowList, key: int | None) -> None:
            super().__init__()
            self.row_list = row_list
            self.key = key

    class MarksChanged(Message):
        def __init__(self, row_list: RowList, marked: frozenset[int]) -> None:
            super().__init__()
            self.row_list = row_list
            self.marked = marked

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        now: Callable[[], datetime],
        empty_text: str = "nothing here",
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)
        self.now = now
        self.empty_text = empty_text
        self.rows: list[Row] = []
        self.cursor = 0
        self.marked: set[int] = set()
        self._index: dict[int, int] = {}
        self._highlighted: int | None = None

    # ---- data ----------------------------------------------------------------------------
    @property
    def current_key(self) -> int | None:
        return self.rows[self.cursor].key if self.rows else None

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Replace the rows, keeping the cursor on the same key when it is still there."""
        keep = self.current_key
        self.rows = list(rows)
        self._index = {row.key: index for index, row in enumerate(self.rows)}
        if keep is not None and keep in self._index:
            self.cursor = self._index[keep]
        else:
            self.cursor = min(self.cursor, max(len(self.rows) - 1, 0))
        stale_marks = self.marked - self._index.keys()
        if stale_marks:
            self.marked -= stale_marks
            self.post_message(self.MarksChanged(self, frozenset(self.marked)))
        self.virtual_size = Size(self.size.width, len(self.rows))
        self._scroll_cursor_into_view()
        self.refresh()
        self._announce()

    def remove_keys(self, keys: set[int]) -> None:
        """Drop rows at once (a decision was stored); the next refresh agrees."""
        if keys & self._index.keys():
            self.set_rows([row for row in self.rows if row.key not in keys])

    def index_of(self, key: int) -> int | None:
        return self._index.get(key)

    def select_key(self, key: int) -> None:
        index = self._index.get(key)
        if index is not None:
            self._move_to(index)

    def clear_marks(self) -> None:
        if self.marked:
            self.marked.clear()
            self.refresh()
            self.post_message(self.MarksChanged(self, frozenset()))

    # ---- actions -------------------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(self.scrollable_content_region.height - 1, 1))

    def action_jump(self, index: int) -> None:
        self._move_to(index if index >= 0 else len(self.rows) - 1)

    def action_toggle_mark(self) -> None:
        key = self.current_key
        if key is None:
            return
        if key in self.marked:
            self.marked.discard(key)
        else:
            self.marked.add(key)
        self.post_message(self.MarksChanged(self, frozenset(self.marked)))
        self._move_to(self.cursor + 1)
        self.refresh()

    def _move_to(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(index, len(self.rows) - 1))
        if index != self.cursor:
            self.refresh_line(self.cursor)
            self.cursor = index
            self.refresh_line(self.cursor)
        self._scroll_cursor_into_view()
        self._announce()

    def refresh_line(self, index: int) -> None:
        _, scroll_y = self.scroll_offset
        self.refresh(Region(0, index - scroll_y, self.size.width, 1))

    def _scroll_cursor_into_view(self) -> None:
        if self.rows:
            self.scroll_to_region(
                Region(0, self.cursor, 1, 1), animate=False, force=True, immediate=True
            )

    def _announce(self) -> None:
        key = self.current_key
        if key != self._highlighted:
            self._highlighted = key
            self.post_message(self.Highlighted(self, key))

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows))

    def on_click(self, event: object) -> None:
        offset = getattr(event, "y", None)
        if isinstance(offset, int):
            self._move_to(offset + round(self.scroll_offset.y))

    # ---- rendering -----------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = y + round(self.scroll_offset.y)
        base = self.rich_style
        if not self.rows:
            if y == 0:
                style = base + self.get_component_rich_style("row-list--empty")
                return Strip([Segment(fit(self.empty_text, width), style)], width)
            return Strip.blank(width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        # Not by colour alone (a monochrome terminal, a text capture): ▸ is the cursor, ● a mark.
        pointer = "▸" if index == self.cursor else " "
        mark = "●" if row.key in self.marked else " "
        cells = row.cells
        if row.when is not None:
            now = self.now()
            cells = tuple(
                age(row.when, now) if column.age else cell
                for column, cell in zip(self.columns, cells, strict=False)
            )
        text = fit(pointer + mark + render_cells(self.columns, cells, width - 1)[1:], width)
        row_style: Style = base
        if row.warning:
            row_style += self.get_component_rich_style("row-list--warning")
        if row.key in self.marked:
            row_style += self.get_component_rich_style("row-list--marked")
        if index == self.cursor:
            row_style += self.get_component_rich_style("row-list--cursor")
        return Strip([Segment(text, row_style)], width)

    def header_text(self, width: int) -> str:
        return " " + render_cells(self.columns, [c.title for c in self.columns], width - 1)
