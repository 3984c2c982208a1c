"""Editing a draft: $EDITOR or the in-app editor, validation, the diff, never losing the edit."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from textual.widgets import TextArea

from ambient.tui.app import AmbientApp
from tests.tui.conftest import (
    DaemonStandIn,
    notified,
    screen_text,
    shows_detail,
    wait_for,
    wait_statuses,
)


def editor_script(tmp_path: Path, old: str, new: str) -> str:
    """An $EDITOR that changes the file the way a human would, then exits."""
    script = tmp_path / "fake_editor.py"
    script.write_text(
        "import pathlib, sys\n"
        "path = pathlib.Path(sys.argv[1])\n"
        f"path.write_text(path.read_text().replace({old!r}, {new!r}))\n"
    )
    return f"{sys.executable} {script}"


async def test_edit_in_editor_shows_the_diff_and_approves_the_edited_version(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp], tmp_path: Path
) -> None:
    approval = daemon.draft()
    app = tui(editor=editor_script(tmp_path, "Friday at noon", "Saturday at one"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("e")
        await wait_for(pilot, lambda: f"Approve #{approval.id} as edited?" in screen_text(app))
        text = screen_text(app)
        assert "-Friday at noon works for me." in text
        assert "+Saturday at one works for me." in text
        await pilot.press("y")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "approved"))
        stored = daemon.queue.get(approval.id)
        assert stored.decision is not None and stored.decision.value == "edited"
        assert (
            stored.effective_args["body"]
            == "Hi Alice,\n\nSaturday at one works for me.\n\nBest,\nMe"
        )
        assert stored.args["body"].startswith("Hi Alice,\n\nFriday")  # the draft is kept apart
        assert app.edits.load(approval.id) is None  # stored: the edit file is gone


async def test_a_line_appended_by_the_editor_starts_a_new_line_of_the_body(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp], tmp_path: Path
) -> None:
    script = tmp_path / "append_editor.sh"
    script.write_text('#!/bin/sh\necho "P.S. See you there." >> "$1"\n')
    script.chmod(0o755)
    approval = daemon.draft()
    app = tui(editor=str(script))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("e")
        await wait_for(pilot, lambda: f"Approve #{approval.id} as edited?" in screen_text(app))
        assert "+P.S. See you there." in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "approved"))
        assert daemon.queue.get(approval.id).effective_args["body"] == (
            "Hi Alice,\n\nFriday at noon works for me.\n\nBest,\nMe\nP.S. See you there."
        )


async def test_edit_in_the_app_when_no_editor_is_set(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    app = tui(editor=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.focused, TextArea))
        area = app.focused
        assert isinstance(area, TextArea)
        assert "Subject: Re: Lunch on Friday?" in area.text
        area.load_text(area.text.replace("Best,", "Cheers,"))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "+Cheers," in screen_text(app))
        await pilot.press("y")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "approved"))
        assert "Cheers," in daemon.queue.get(approval.id).effective_args["body"]


async def test_an_invalid_edit_is_explained_and_kept_for_the_next_try(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    app = tui(editor=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.focused, TextArea))
        area = app.focused
        assert isinstance(area, TextArea)
        area.load_text(area.text.replace("To: alice@example.com", "To: alice at example"))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not an email address" in screen_text(app))
        await pilot.press("escape")
        await wait_for(pilot, notified(app, "kept"))
        assert daemon.status_of(approval.id) == "pending"
        await pilot.press("e")  # resumes the unfinished edit, not the draft
        await wait_for(pilot, lambda: isinstance(app.focused, TextArea))
        area = app.focused
        assert isinstance(area, TextArea)
        assert "To: alice at example" in area.text
        area.load_text(
            area.text.replace("To: alice at example", "To: alice@example.com, carol@example.com")
        )
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: "+To: alice@example.com, carol@example.com" in screen_text(app)
        )
        await pilot.press("y")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "approved"))
        assert daemon.queue.get(approval.id).effective_args["to"] == [
            "alice@example.com",
            "carol@example.com",
        ]


async def test_declining_the_diff_keeps_the_edit_and_e_resumes_it(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp], tmp_path: Path
) -> None:
    approval = daemon.draft()
    app = tui(editor=editor_script(tmp_path, "Best,", "Warmly,"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("e")
        await wait_for(pilot, lambda: "+Warmly," in screen_text(app))
        await pilot.press("n")
        await wait_for(pilot, notified(app, "is kept"))
        assert daemon.status_of(approval.id) == "pending"
        kept = app.edits.load(approval.id)
        assert kept is not None and "Warmly," in kept
        await pilot.press("e")  # the editor runs on the kept text (Best, is gone already)
        await wait_for(pilot, notified(app, "Resuming unfinished edit"))
        await wait_for(pilot, lambda: "+Warmly," in screen_text(app))
        await pilot.press("y")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "approved"))


async def test_an_unchanged_edit_is_not_an_edit(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp], tmp_path: Path
) -> None:
    approval = daemon.draft()
    app = tui(editor=editor_script(tmp_path, "nothing to find", "x"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("e")
        await wait_for(pilot, notified(app, "No changes"))
        assert daemon.status_of(approval.id) == "pending"
        assert app.edits.load(approval.id) is None


async def test_a_failing_editor_is_reported(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    app = tui(editor="false")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("e")
        await wait_for(pilot, notified(app, "exited with status 1"))
        assert daemon.status_of(approval.id) == "pending"


async def test_an_edit_that_the_policy_would_block_is_not_approved(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp], tmp_path: Path
) -> None:
    approval = daemon.draft(
        "write_note", {"path": "lunch.md", "content": "Lunch with Alice on Friday.\n"}
    )
    app = tui(editor=editor_script(tmp_path, "Path: lunch.md", "Path: ../../etc/cron.d/x"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("e")
        await wait_for(pilot, notified(app, "would be blocked"))
        assert daemon.status_of(approval.id) == "pending"
        assert app.edits.load(approval.id) is not None
