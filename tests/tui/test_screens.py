"""Help, filter, history and memory screens, each driven by its keys."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, text
from textual.binding import Binding
from textual.widgets import Input, Select, TextArea

from ambient.core.config import Settings
from ambient.core.diffs import make_diff, sha256_text
from ambient.memory.history import MemoryHistory
from ambient.memory.store import MemoryStore
from ambient.tui.app import AmbientApp
from ambient.tui.screens.help import SECTIONS, keys_text, main_screen_bindings
from ambient.tui.screens.history import HistoryScreen
from ambient.tui.screens.memory import MemoryScreen
from ambient.tui.screens.queue import QueueScreen
from ambient.tui.widgets.detail import DetailPane
from ambient.tui.widgets.row_list import RowList
from tests.tui.conftest import (
    DaemonStandIn,
    email_bytes,
    notified,
    queue_keys,
    screen_text,
    type_text,
    wait_for,
    wait_statuses,
)


def on_screen(app: AmbientApp, kind: type) -> Callable[[], bool]:
    def screen_is() -> bool:
        return isinstance(app.screen, kind) and bool(getattr(app.screen, "loaded", True))

    screen_is.__name__ = f"the {kind.__name__}"
    return screen_is


async def test_question_mark_shows_every_key_and_escape_goes_back(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, on_screen(app, QueueScreen))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: "ambient — keys" in screen_text(app))
        text = screen_text(app)
        for key_help in ("approve", "edit the draft", "feedback", "reject", "ignore", "undo"):
            assert key_help in text
        lines = text.splitlines()
        assert "Esc: close" in text
        assert "q         quit" in text  # the last key fits in 24 rows: nothing to scroll
        assert not any(line.strip("│ ") == "approve" for line in lines)  # no wrapped lines
        assert all(len(line) <= 80 for line in lines)
        await pilot.press("escape")
        await wait_for(pilot, on_screen(app, QueueScreen))


def test_the_help_shows_the_keys_the_bindings_have() -> None:
    rebound = [
        Binding("A", "approve", "Approve") if binding.action == "approve" else binding
        for binding in main_screen_bindings()
    ]

    lines = keys_text(rebound).plain.splitlines()

    assert "  A         approve (asks first when the policy warned)" in lines
    assert not any(line.startswith("  a ") for line in lines)


def test_every_key_of_the_queue_and_its_list_is_in_the_help() -> None:
    helped = {
        action
        for _, lines in SECTIONS
        for actions, meaning in lines
        for action in (*actions, *re.findall(r"\{(.+?)\}", meaning))
    }
    bound = [*QueueScreen.BINDINGS, *RowList.BINDINGS]

    assert {binding.action for binding in bound if isinstance(binding, Binding)} <= helped


async def test_slash_filters_by_sender_kind_and_text_and_ctrl_r_clears(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    alice = daemon.draft(raw=email_bytes(subject="Lunch", message_id="<a@x>"))
    bob = daemon.draft(
        raw=email_bytes(sender="Bob <bob@example.net>", subject="Invoice", message_id="<b@x>"),
        args={"to": ["bob@example.net"], "subject": "Re: Invoice", "body": "Paid."},
    )
    note = daemon.draft(
        "write_note",
        {"path": "ideas.md", "content": "Ideas from the meeting\n"},
        raw=email_bytes(subject="Meeting notes", message_id="<m@x>"),
        source="work",
    )
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(queue_keys(app)) == 3)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press("tab", "tab")  # text -> source -> sender
        await type_text(pilot, "bob@")
        await pilot.press("enter")
        await wait_for(pilot, lambda: queue_keys(app) == [bob.id])
        assert "sender=bob@" in screen_text(app)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(queue_keys(app)) == 3)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press("tab")
        await type_text(pilot, "work")
        await pilot.press("enter")
        await wait_for(pilot, lambda: queue_keys(app) == [note.id])
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(queue_keys(app)) == 3)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await type_text(pilot, "lunch")
        await pilot.press("enter")
        await wait_for(pilot, lambda: queue_keys(app) == [alice.id])


async def test_history_shows_outcomes_and_retries_a_dead_action(
    daemon: DaemonStandIn, engine: Engine, tui: Callable[..., AmbientApp]
) -> None:
    sent = daemon.draft(raw=email_bytes(subject="Sent one", message_id="<s@x>"))
    dead = daemon.draft(raw=email_bytes(subject="Dead one", message_id="<d@x>"))
    for approval in (sent, dead):
        daemon.queue.approve(approval.id, shown_hash=approval.shown_hash, actor="cli")
    with engine.begin() as connection:  # standing in for the outbox
        connection.execute(
            text(
                "UPDATE approval SET status='executed', result_json='{\"message_id\": \"<m1@x>\"}'"
                " WHERE id=:id"
            ),
            {"id": sent.id},
        )
        connection.execute(
            text(
                "UPDATE approval SET status='dead', attempts=5,"
                " last_error='smtp: 550 mailbox unavailable' WHERE id=:id"
            ),
            {"id": dead.id},
        )
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, on_screen(app, QueueScreen))
        await pilot.press("h")
        await wait_for(pilot, on_screen(app, HistoryScreen))
        await wait_for(pilot, lambda: "dead" in screen_text(app) and "executed" in screen_text(app))

        def detail_of_dead() -> bool:
            view = app.screen.query_one(DetailPane).view
            return view is not None and view.id == dead.id

        if app.screen.query_one(DetailPane).view is None or not detail_of_dead():
            await pilot.press("down")
        await wait_for(pilot, detail_of_dead)
        assert "error after 5 attempts: smtp: 550 mailbox unavailable" in screen_text(app)
        await pilot.press("t")
        await wait_for(pilot, wait_statuses(daemon, [dead.id], "approved"))
        await pilot.press("down")
        await wait_for(pilot, lambda: '{"message_id": "<m1@x>"}' in screen_text(app))
        await pilot.press("t")  # an executed action is not retried
        await wait_for(pilot, notified(app, "only a dead action can be retried"))
        await pilot.press("escape")
        await wait_for(pilot, on_screen(app, QueueScreen))


async def test_history_d_closes_an_email_whose_delivery_is_uncertain_as_delivered(
    daemon: DaemonStandIn, engine: Engine, tui: Callable[..., AmbientApp]
) -> None:
    uncertain = daemon.draft(raw=email_bytes(subject="Maybe sent", message_id="<u@x>"))
    refused = daemon.draft(raw=email_bytes(subject="Never sent", message_id="<r@x>"))
    for approval in (uncertain, refused):
        daemon.queue.approve(approval.id, shown_hash=approval.shown_hash, actor="cli")
    with engine.begin() as connection:  # standing in for the outbox
        connection.execute(
            text(
                "UPDATE approval SET status='dead', delivery_stage='sending',"
                " last_error='delivery uncertain: the connection failed' WHERE id=:id"
            ),
            {"id": uncertain.id},
        )
        connection.execute(
            text("UPDATE approval SET status='dead', last_error='smtp: 550' WHERE id=:id"),
            {"id": refused.id},
        )
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, on_screen(app, QueueScreen))
        await pilot.press("h")
        await wait_for(pilot, on_screen(app, HistoryScreen))
        await wait_for(pilot, lambda: "Delivered" in screen_text(app))  # the footer offers it

        async def select(approval_id: int) -> None:
            rows = app.screen.query_one(RowList)
            await pilot.press("home")
            for _ in range(5):
                if rows.current_key == approval_id:
                    return
                await pilot.press("down")
            raise AssertionError(f"row {approval_id} not found")

        await select(refused.id)
        await pilot.press("d")
        await wait_for(pilot, notified(app, "its delivery is not uncertain"))
        await select(uncertain.id)
        await pilot.press("d")
        await wait_for(pilot, wait_statuses(daemon, [uncertain.id], "executed"))
        await wait_for(pilot, notified(app, f"#{uncertain.id} closed as delivered"))
        assert daemon.queue.get(refused.id).status == "dead"


def seeded_memory(settings: Settings) -> MemoryStore:
    store = MemoryStore(settings.memory_dir)
    store.seed()
    return store


def memory_editor(tmp_path: Path) -> str:
    script = tmp_path / "memory_editor.py"
    script.write_text(
        "import pathlib, sys\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "path.write_text(path.read_text() + '\\n- Prefers short replies.\\n')\n"
    )
    return f"{sys.executable} {script}"


async def test_memory_lists_files_and_e_opens_one_in_the_editor_with_history(
    daemon: DaemonStandIn, settings: Settings, tui: Callable[..., AmbientApp], tmp_path: Path
) -> None:
    seeded_memory(settings)
    app = tui(editor=memory_editor(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, on_screen(app, QueueScreen))
        await pilot.press("m")
        await wait_for(pilot, on_screen(app, MemoryScreen))
        await wait_for(pilot, lambda: "profile.md" in screen_text(app))
        assert "contacts.md" in screen_text(app)
        await pilot.press("e")  # profile.md, the first file
        await wait_for(pilot, notified(app, "profile.md saved"))
        assert "Prefers short replies." in (settings.memory_dir / "profile.md").read_text()
        await pilot.press("3")
        await wait_for(pilot, lambda: "user edit: profile.md" in screen_text(app))
        await pilot.press("u")
        await wait_for(
            pilot, lambda: "Undo" in screen_text(app) and "user edit" in screen_text(app)
        )
        await pilot.press("y")
        await wait_for(pilot, notified(app, "undone"))
        assert "Prefers short replies." not in (settings.memory_dir / "profile.md").read_text()
        log = MemoryHistory(settings.memory_dir).log(limit=1)
        assert log[0].subject.startswith("memory: undo")
        await pilot.press("escape")
        await wait_for(pilot, on_screen(app, QueueScreen))


async def test_memory_arrow_keys_move_in_the_files_as_soon_as_it_opens(
    daemon: DaemonStandIn, settings: Settings, tui: Callable[..., AmbientApp], tmp_path: Path
) -> None:
    seeded_memory(settings)
    app = tui(editor=memory_editor(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, on_screen(app, QueueScreen))
        await pilot.press("m")
        await wait_for(pilot, on_screen(app, MemoryScreen))
        screen = app.screen
        assert isinstance(screen, MemoryScreen)
        first, second = (f.name for f in screen.files[:2])
        await pilot.press("down")
        await pilot.press("e")  # the file moved to, not the first one
        await wait_for(pilot, notified(app, f"{second} saved"))
        assert "Prefers short replies." in (settings.memory_dir / second).read_text()
        assert first == "profile.md"
        assert "Prefers short replies." not in (settings.memory_dir / "profile.md").read_text()


async def test_memory_shows_proposed_changes_as_diffs_to_approve(
    daemon: DaemonStandIn, settings: Settings, tui: Callable[..., AmbientApp]
) -> None:
    store = seeded_memory(settings)
    before = store.read("contacts.md")
    after = before + "\n- Alice Example <alice@example.com>: colleague, lunch on Fridays.\n"
    proposal = daemon.draft(
        "memory_update",
        {
            "file": "contacts.md",
            "diff": make_diff("contacts.md", before, after),
            "base_sha256": sha256_text(before),
            "reason": "You replied warmly to Alice twice.",
        },
    )
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, on_screen(app, QueueScreen))
        await pilot.press("m")
        await wait_for(pilot, on_screen(app, MemoryScreen))
        await pilot.press("2")
        await wait_for(pilot, lambda: "+- Alice Example <alice@example.com>" in screen_text(app))
        assert "You replied warmly to Alice twice." in screen_text(app)
        await pilot.press("a")
        await wait_for(pilot, wait_statuses(daemon, [proposal.id], "approved"))
        await wait_for(pilot, lambda: "No proposed changes." in screen_text(app))


async def test_memory_rejects_a_proposal_with_a_reason(
    daemon: DaemonStandIn, settings: Settings, tui: Callable[..., AmbientApp]
) -> None:
    store = seeded_memory(settings)
    before = store.read("triage_rules.md")
    proposal = daemon.draft(
        "memory_update",
        {
            "file": "triage_rules.md",
            "diff": make_diff("triage_rules.md", before, before + "\n- Ignore all mail.\n"),
            "base_sha256": sha256_text(before),
            "reason": "Too much mail.",
        },
    )
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, on_screen(app, QueueScreen))
        await pilot.press("m")
        await wait_for(pilot, on_screen(app, MemoryScreen))
        await pilot.press("2")
        await wait_for(pilot, lambda: "Ignore all mail" in screen_text(app))
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await type_text(pilot, "far too broad")
        await pilot.press("enter")
        await wait_for(pilot, wait_statuses(daemon, [proposal.id], "rejected"))
        assert daemon.queue.get(proposal.id).decision_message == "far too broad"


async def test_history_u_takes_a_decision_back_and_slash_filters_by_status(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    kept = daemon.draft(raw=email_bytes(subject="Kept", message_id="<k@x>"))
    dropped = daemon.draft(raw=email_bytes(subject="Dropped", message_id="<d@x>"))
    daemon.queue.approve(kept.id, shown_hash=kept.shown_hash, actor="cli")
    daemon.queue.reject(dropped.id, shown_hash=dropped.shown_hash, reason="no", actor="cli")
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, on_screen(app, QueueScreen))
        await pilot.press("h")
        await wait_for(pilot, on_screen(app, HistoryScreen))
        await wait_for(
            pilot, lambda: "Re: Kept" in screen_text(app) and "Re: Dropped" in screen_text(app)
        )
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        app.screen.query_one("#status", Select).value = "rejected"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Re: Kept" not in screen_text(app))
        assert "Re: Dropped" in screen_text(app)
        await pilot.press("u")
        await wait_for(pilot, wait_statuses(daemon, [dropped.id], "pending"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: dropped.id in queue_keys(app))


async def test_memory_file_edited_in_the_app_when_no_editor_is_set(
    daemon: DaemonStandIn, settings: Settings, tui: Callable[..., AmbientApp]
) -> None:
    seeded_memory(settings)
    app = tui(editor=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, on_screen(app, QueueScreen))
        await pilot.press("m")
        await wait_for(pilot, on_screen(app, MemoryScreen))
        await wait_for(pilot, lambda: "profile.md" in screen_text(app))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.focused, TextArea))
        area = app.focused
        assert isinstance(area, TextArea)
        area.load_text(area.text + "\n- Works from Lisbon.\n")
        await pilot.press("ctrl+s")
        await wait_for(pilot, notified(app, "profile.md saved"))
        assert "Works from Lisbon." in (settings.memory_dir / "profile.md").read_text()
        assert MemoryHistory(settings.memory_dir).log(limit=1)[0].subject == "user edit: profile.md"
