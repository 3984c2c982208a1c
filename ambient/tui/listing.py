"""Keeping the queue's listing in step with the database, cheaply, off the UI thread.

Each poll reads a change token (one aggregate); when it moved, the index (ids and shown hashes
in display order), and then only the rows that are new or changed: the first page first, so
the screen paints early even with ten thousand pending actions, then the rest. After a decision
made here (its rows already off the screen) the index is read only if the token moved by more
than those rows leaving: other processes' changes still show at the next poll.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ambient.approvals.kinds import KINDS
from ambient.tui.backend import Backend
from ambient.tui.views import QueueEntry, QueueFilter
from ambient.tui.widgets.row_list import Row

FIRST_PAGE = 200  # rows loaded before the first paint
BATCH = 2000  # rows per query after that
MAX_LEFT = 500  # rows decided here whose share of the token is checked; more: read the index

Token = tuple[object, ...]
Aggregates = tuple[Any, ...]  # a token: count, sum of ids, sum of rounds, newest queued


def queue_row(entry: QueueEntry) -> Row:
    flag = "✖" if entry.status == "blocked" else ("⚠" if entry.warnings else "")
    return Row(
        key=entry.id,
        cells=(KINDS.of(entry.kind).label, entry.concerns, entry.summary, "", flag),
        warning=bool(entry.warnings),
        when=entry.created_at,
    )


@dataclass(frozen=True)
class Listing:
    """A listing read off the UI thread, ready to show."""

    queue_filter: QueueFilter
    entries: dict[int, QueueEntry]  # in display order
    rows: list[Row]
    token: Token | None  # None while the rest is still loading


def assemble(
    index: list[tuple[int, str]],
    fresh: dict[int, QueueEntry],
    known: dict[int, QueueEntry],
    queue_filter: QueueFilter,
    token: Token | None,
) -> Listing:
    """The rows of the index that are loaded and current, in the index's order."""
    entries: dict[int, QueueEntry] = {}
    for approval_id, shown in index:
        entry = fresh.get(approval_id) or known.get(approval_id)
        if entry is not None and entry.shown_hash == shown:
            entries[approval_id] = entry
    return Listing(queue_filter, entries, [queue_row(e) for e in entries.values()], token)


def only_these_left(before: Aggregates, after: Aggregates, left: Aggregates) -> bool:
    """Whether the queue went from token `before` to `after` by the rows whose share of the
    token is `left` leaving it, and nothing else: no row entered, was re-queued or redrafted
    (those add ids or rounds, or move the newest queued time on)."""
    count, ids, rounds, newest = before
    left_count, left_ids, left_rounds, _ = left
    expected = (
        count - left_count,
        (ids or 0) - (left_ids or 0),
        (rounds or 0) - (left_rounds or 0),
    )
    if (after[0], after[1] or 0, after[2] or 0) != expected:
        return False
    return after[3] is None or (newest is not None and after[3] <= newest)


def sync(
    backend: Backend,
    queue_filter: QueueFilter,
    known: dict[int, QueueEntry],
    last_token: Token | None,
    *,
    force: bool,
    on_screen: bool,
    show: Callable[[Listing], None],
    left: frozenset[int] = frozenset(),
) -> Token | None:
    """Bring the listing up to date, calling `show` with the first page and with the whole.

    `known` is what the screen shows (for this filter when `on_screen`). `left` are rows decided
    here since `last_token` was read, already off the screen: when the token moved by just
    their leaving, the screen is current without reading the index again. Returns the current
    token when nothing needed showing (None if `show` was called).
    """
    token = backend.queue_token(queue_filter)
    if not force and token == last_token and not left:
        return token
    if (
        not force
        and on_screen
        and left
        and len(left) <= MAX_LEFT
        and last_token is not None
        and only_these_left(last_token, token, backend.rows_token(sorted(left)))
    ):
        return token
    index = backend.queue_index(queue_filter)
    missing = [i for i, shown in index if i not in known or known[i].shown_hash != shown]
    if on_screen and not missing and [approval_id for approval_id, _ in index] == list(known):
        return token  # e.g. after a decision: its row already left the screen
    fresh: dict[int, QueueEntry] = {}
    batches = [missing[:FIRST_PAGE]] + [
        missing[start : start + BATCH] for start in range(FIRST_PAGE, len(missing), BATCH)
    ]
    for number, batch in enumerate(batches):
        fresh.update(backend.entries_by_id(batch))
        last = number == len(batches) - 1
        if number == 0 or last:
            show(assemble(index, fresh, known, queue_filter, token if last else None))
    return None
