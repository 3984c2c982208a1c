"""After a decision made in the app its row has left the list already: the listing is read again
only when the queue changed by more than that (another process deciding, a new draft); and the
decision's worker is not kept waiting for the interpreter while the screen draws."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime

from ambient.tui.app import SWITCH_INTERVAL, AmbientApp
from ambient.tui.listing import only_these_left
from ambient.tui.screens.queue import QueueScreen
from tests.tui.conftest import (
    DaemonStandIn,
    email_bytes,
    queue_keys,
    shows_detail,
    wait_for,
    wait_statuses,
)

EARLIER = datetime(2026, 11, 24, 8, 30)
LATER = datetime(2026, 11, 24, 9, 0)


def test_the_token_moved_by_the_rows_that_left_alone() -> None:
    # three rows (ids 1, 2, 3, rounds 0, 1, 0); rows 2 and 3 left
    assert only_these_left((3, 6, 1, EARLIER), (1, 1, 0, EARLIER), (2, 5, 1, EARLIER))
    assert only_these_left((1, 7, 0, EARLIER), (0, None, None, None), (1, 7, 0, EARLIER))


def test_a_row_that_entered_or_came_back_redrafted_is_more_than_rows_leaving() -> None:
    before, left = (3, 6, 1, EARLIER), (1, 3, 0, EARLIER)
    assert not only_these_left(before, (3, 9, 1, LATER), left)  # row 4 entered meanwhile
    assert not only_these_left(before, (2, 3, 2, LATER), left)  # row 2 redrafted (round 2)
    assert not only_these_left(before, (2, 3, 1, LATER), left)  # one re-queued (queued later)
    assert not only_these_left(before, (1, 1, 0, EARLIER), left)  # another left too


def counting_index_reads(app: AmbientApp) -> list[int]:
    reads: list[int] = []
    read_index = app.backend.queue_index

    def counted(*args: object, **kwargs: object) -> list[tuple[int, str]]:
        reads.append(1)
        return read_index(*args, **kwargs)  # type: ignore[arg-type]

    app.backend.queue_index = counted  # type: ignore[method-assign]
    return reads


def settled(app: AmbientApp) -> Callable[[], bool]:
    def decision_accounted_for() -> bool:
        screen = app.screen
        return isinstance(screen, QueueScreen) and not screen._polling and not screen._left

    return decision_accounted_for


async def test_a_decision_made_here_keeps_the_list_without_reading_it_again(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    first = daemon.draft(raw=email_bytes(subject="First", message_id="<1@x>"))
    second = daemon.draft(raw=email_bytes(subject="Second", message_id="<2@x>"))
    app = tui(poll_seconds=3600)  # no timer poll during the test: only the decision's check
    reads = counting_index_reads(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, second.id))
        assert len(reads) == 1  # the first listing
        await pilot.press("a")
        await wait_for(pilot, wait_statuses(daemon, [second.id], "approved"))
        await wait_for(pilot, settled(app))
        assert queue_keys(app) == [first.id]
        assert len(reads) == 1


async def test_a_decision_made_here_still_shows_what_changed_elsewhere_meanwhile(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    first = daemon.draft(raw=email_bytes(subject="First", message_id="<1@x>"))
    second = daemon.draft(raw=email_bytes(subject="Second", message_id="<2@x>"))
    app = tui(poll_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, second.id))
        # the daemon drafts a third and the CLI rejects the first before the app polls again
        third = daemon.draft(raw=email_bytes(subject="Third", message_id="<3@x>"))
        daemon.queue.reject(
            first.id, shown_hash=daemon.queue.get(first.id).shown_hash, reason="no", actor="cli"
        )
        await pilot.press("a")
        await wait_for(pilot, wait_statuses(daemon, [second.id], "approved"))
        await wait_for(pilot, lambda: queue_keys(app) == [third.id])


async def test_once_the_rows_are_shown_threads_switch_sooner_until_the_app_exits(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    before = sys.getswitchinterval()
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        assert sys.getswitchinterval() == SWITCH_INTERVAL < before
    assert sys.getswitchinterval() == before
