"""A toast never covers what you type: on a question at the bottom, toasts show at the top."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Input
from textual.widgets._toast import Toast

from ambient.tui.app import AmbientApp
from ambient.tui.screens.prompt import TextPrompt
from ambient.tui.widgets.detail import DetailPane
from tests.tui.conftest import (
    DaemonStandIn,
    email_bytes,
    notified,
    screen_text,
    shows_detail,
    wait_for,
)


async def test_the_reject_prompt_input_stays_visible_under_a_toast(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    first = daemon.draft(raw=email_bytes(subject="Lunch?", message_id="<a@x>"))
    second = daemon.draft(raw=email_bytes(subject="Dinner?", message_id="<b@x>"))
    app = tui()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DetailPane).view is not None)
        shown = app.screen.query_one(DetailPane).view
        assert shown is not None
        other = second.id if shown.id == first.id else first.id
        await pilot.press("i")  # ignore: a toast says so, with "u: undo"
        await wait_for(pilot, notified(app, "u: undo"))
        await wait_for(pilot, shows_detail(app, other))
        await pilot.press("r")
        await wait_for(pilot, lambda: "why?" in screen_text(app))
        await wait_for(pilot, lambda: bool(app.screen.query(Toast)))

        assert isinstance(app.screen, TextPrompt)
        answer = app.screen.query_one(Input).region
        toasts = [toast.region for toast in app.screen.query(Toast)]
        assert toasts and all(not toast.overlaps(answer) for toast in toasts)
