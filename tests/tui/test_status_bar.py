"""The status bar fits its line: at 80 and 100 columns the least important parts go first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from ambient.daemon.health import DaemonHealth
from ambient.tui.app import AmbientApp
from ambient.tui.screens.queue import QueueScreen
from ambient.tui.widgets.status_bar import SourceView, StatusSnapshot, status_text
from tests.conftest import FrozenClock
from tests.tui.conftest import DaemonStandIn, email_bytes, screen_text, wait_for

MODEL = "local (bundled SmolLM2-135M)"


def busy_snapshot(clock: FrozenClock) -> StatusSnapshot:
    now = clock.now()
    return StatusSnapshot(
        health=DaemonHealth(True, "host:1", now, now, MODEL, "running"),
        sources=(
            SourceView("inbox", now - timedelta(seconds=12), None),
            SourceView("work", now - timedelta(minutes=3), "login failed"),
            SourceView("newsletters", now - timedelta(minutes=1), None),
        ),
        item_counts={"new": 2, "processing": 1, "awaiting_approval": 5, "done": 120, "failed": 1},
        pending=5,
        model=MODEL,
        now=now,
    )


@pytest.mark.parametrize("width", [78, 98])  # 80 and 100 columns less the bar's padding
def test_the_status_line_fits_and_keeps_what_matters_most(clock: FrozenClock, width: int) -> None:
    full = status_text(busy_snapshot(clock)).plain
    assert len(full) > 100  # the case the bar was cut in

    line = status_text(busy_snapshot(clock), width).plain

    assert len(line) <= width
    assert line.startswith("● daemon running")
    assert "5 to decide" in line and "work! 3m" in line and "failed 1" in line
    assert "done 120" not in line  # the least important part goes first


def test_a_wide_line_keeps_everything(clock: FrozenClock) -> None:
    snapshot = busy_snapshot(clock)
    assert status_text(snapshot, 200).plain == status_text(snapshot).plain


@pytest.mark.parametrize("columns", [80, 100])
async def test_the_status_bar_is_not_cut_at_80_or_100_columns(
    daemon: DaemonStandIn, clock: FrozenClock, tui: Callable[..., AmbientApp], columns: int
) -> None:
    for source in ("inbox", "newsletters", "family"):
        daemon.poll(source)
    daemon.poll("work", error="login failed")
    for number in range(3):
        daemon.draft(raw=email_bytes(subject=f"Lunch {number}?", message_id=f"<l{number}@x>"))
    daemon.beat()
    clock.advance(seconds=30)
    app = tui()
    async with app.run_test(size=(columns, 24)) as pilot:

        def status_shown() -> bool:
            return isinstance(app.screen, QueueScreen) and "to decide" in screen_text(app)

        await wait_for(pilot, status_shown)
        status = screen_text(app).splitlines()[0]
        assert "…" not in status
        assert "3 to decide" in status and "work! 30s" in status
        assert len(status) <= columns
