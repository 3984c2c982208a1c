"""A calendar invite in the TUI's detail and in `ambient items show` / `approvals show`: the
event's when, where and who, compact at 80 columns; a part that could not be read, reported."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from ambient.tui.app import AmbientApp
from ambient.tui.widgets.detail import detail_text
from tests.agent.invites import invite
from tests.conftest import CommandLine, FrozenClock
from tests.tui.conftest import DaemonStandIn, screen_text, shows_detail, wait_for


def _acceptance(daemon: DaemonStandIn, name: str = "google_timed") -> int:
    row = daemon.draft(
        "calendar_reply",
        {"response": "accept", "organizer": "dana@example.com", "comment": ""},
        raw=invite(name),
        rationale="The calendar is free then.",
    )
    return row.id


async def test_the_tui_detail_shows_when_where_and_who_within_80_columns(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval_id = _acceptance(daemon)
    app = tui()
    async with app.run_test(size=(80, 60)) as pilot:
        await wait_for(pilot, shows_detail(app, approval_id))
        await wait_for(pilot, lambda: "Event: Q3 planning" in screen_text(app))
        shown = screen_text(app)
        rows = [row.strip() for row in shown.splitlines()]  # of the 80-column screen
        assert f"#{approval_id} calendar_reply · pending" in shown
        assert "Response: accept" in rows and "Organizer: dana@example.com" in rows
        for line in (
            "Event: Q3 planning (invitation)",
            "When: Tue 12 Jan 2027 14:00–15:00 (Europe/Berlin)",
            "Where: Room 4.2, Main building",
            "Organizer: Dana Scully <dana@example.com>",
            "Attendees: Dana Scully (accepted), me@example.com (needs action), Lee Park",
        ):  # each on a row of its own (the attendees wrap)
            assert any(row.startswith(line) for row in rows), line
        # right below the draft, before the reasons: the answer is read with the event
        assert shown.index("── calendar") < shown.index("── why") < shown.index("── original")


def test_the_detail_reports_a_calendar_part_that_could_not_be_read(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp], clock: FrozenClock
) -> None:
    row = daemon.draft(raw=invite("malformed_garbage"))
    view = tui().backend.approval_view(row.id)
    console = Console(width=80, record=True)
    console.print(detail_text(view, clock.now()))
    shown = console.export_text()
    assert "⚠ calendar part could not be read: Content line could not be parsed" in shown
    assert "Coffee on Thursday?" in shown  # the message itself still shows


def test_items_show_and_approvals_show_give_the_event(
    daemon: DaemonStandIn, cli: CommandLine
) -> None:
    approval_id = _acceptance(daemon, "outlook_recurring")
    item_id = daemon.queue.get(approval_id).item_id
    code, out = cli.run("items", "show", str(item_id))
    assert code == 0
    assert "event: Budget review (updated invitation)" in out
    assert "  when: Mon 1 Mar 2027 09:30–10:15 (Pacific Standard Time)" in out
    assert "  repeats: weekly on Mon, Wed until Wed 30 Jun 2027" in out
    code, shown = cli.json("items", "show", str(item_id))
    assert shown["calendar"]["sequence"] == 2 and shown["calendar"]["method"] == "REQUEST"
    assert shown["calendar"]["attendees"][0] == {
        "address": "me@example.com",
        "name": "Robin Me",
        "status": "NEEDS-ACTION",
    }
    assert shown["part_problems"] == []
    code, out = cli.run("approvals", "show", str(approval_id))
    assert code == 0 and "  response: accept" in out
    assert "  where: Microsoft Teams Meeting" in out
    code, shown = cli.json("approvals", "show", str(approval_id))
    assert shown["calendar"]["summary"] == "Budget review" and shown["part_problems"] == []
