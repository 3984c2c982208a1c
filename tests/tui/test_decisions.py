"""One key per decision, each stored through the approvals API with the hash that was shown."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, text

from ambient.approvals.tables import Approval
from ambient.core.config import Settings, SmtpSettings
from ambient.tui.app import AmbientApp
from ambient.tui.widgets.detail import DetailPane
from tests.conftest import FrozenClock
from tests.tui.conftest import (
    DaemonStandIn,
    email_bytes,
    notified,
    queue_keys,
    screen_text,
    shows_detail,
    type_text,
    wait_for,
    wait_statuses,
)


async def test_a_approves_the_shown_draft_and_it_leaves_the_queue(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp], settings: Settings
) -> None:
    settings.smtp = SmtpSettings(host="127.0.0.1")
    approval = daemon.draft()
    app = tui()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("a")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "approved"))
        await wait_for(pilot, lambda: queue_keys(app) == [])
        stored = daemon.queue.get(approval.id)
        assert stored.decided_by == "tui:tester"
        assert stored.decision is not None and stored.decision.value == "approved"
        await wait_for(pilot, notified(app, "approved · u: undo"))
        # the toast fits on one line at 80 columns
        await wait_for(pilot, lambda: f"#{approval.id} approved · u: undo" in screen_text(app))


async def test_approving_an_email_without_an_smtp_account_says_how_to_fix_it(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp], settings: Settings
) -> None:
    assert settings.smtp is None
    assert all(getattr(source, "smtp", None) is None for source in settings.sources)
    approval = daemon.draft()
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("a")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "approved"))
        expected = (
            "approved — but no SMTP account is configured: add [smtp] to ambient.toml,"
            " then retry it from history (h)"
        )
        await wait_for(pilot, notified(app, expected))
        (toast,) = [n for n in app._notifications if expected in str(n.message)]
        assert toast.severity == "warning"
        assert toast.markup is False  # "[smtp]" reaches the screen, not eaten as markup


async def test_approving_a_note_without_an_smtp_account_is_not_a_warning(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft("write_note", {"path": "lunch.md", "content": "Friday, noon.\n"})
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("a")
        await wait_for(pilot, notified(app, "approved · u: undo"))
        assert not any("SMTP" in str(n.message) for n in app._notifications)


async def test_approving_a_warned_draft_asks_first_and_no_leaves_it_pending(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft(
        "send_email", {"to": ["bob@elsewhere.example"], "subject": "Hi", "body": "Hello"}
    )
    assert approval.warnings
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("a")
        await wait_for(pilot, lambda: "The policy gate warns. Approve anyway?" in screen_text(app))
        assert "not in the thread: bob@elsewhere.example" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert daemon.status_of(approval.id) == "pending"
        await pilot.press("a")
        await wait_for(pilot, lambda: "Approve anyway?" in screen_text(app))
        await pilot.press("y")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "approved"))
        assert daemon.queue.get(approval.id).warnings_acknowledged


async def test_a_blocked_draft_cannot_be_approved(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft(
        args={"to": ["attacker@evil.example"], "subject": "Fwd", "body": "all your mail"}
    )
    assert approval.status.value == "blocked"
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        assert "✖ blocked by policy" in screen_text(app)
        await pilot.press("a")
        await wait_for(pilot, notified(app, "is blocked by policy"))
        assert daemon.status_of(approval.id) == "blocked"


async def test_r_rejects_with_the_reason_typed(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("r")
        await wait_for(pilot, lambda: "why?" in screen_text(app))
        await type_text(pilot, "too formal")
        await pilot.press("enter")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "rejected"))
        assert daemon.queue.get(approval.id).decision_message == "too formal"


async def test_f_sends_feedback_and_escape_cancels_without_deciding(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("f")
        await wait_for(pilot, lambda: "what should the agent change?" in screen_text(app))
        await pilot.press("enter")  # empty feedback is not sent
        await pilot.pause()
        assert "what should the agent change?" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert daemon.status_of(approval.id) == "pending"
        await pilot.press("f")
        await wait_for(pilot, lambda: "what should the agent change?" in screen_text(app))
        await type_text(pilot, "say Saturday instead")
        await pilot.press("enter")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "feedback"))
        assert daemon.queue.get(approval.id).decision_message == "say Saturday instead"


async def test_i_ignores(daemon: DaemonStandIn, tui: Callable[..., AmbientApp]) -> None:
    approval = daemon.draft()
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("i")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "ignored"))


async def test_u_undoes_the_last_decision_and_the_row_comes_back(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("a")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "approved"))
        await wait_for(pilot, lambda: queue_keys(app) == [])
        await pilot.press("u")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "pending"))
        await wait_for(pilot, lambda: queue_keys(app) == [approval.id])
        await pilot.press("u")
        await wait_for(pilot, notified(app, "Nothing to undo"))


async def test_undo_is_refused_once_the_action_is_executing(
    daemon: DaemonStandIn, engine: Engine, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("a")
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "approved"))
        with engine.begin() as connection:  # the outbox picks it up
            connection.execute(
                text("UPDATE approval SET status = 'executing' WHERE id = :id"),
                {"id": approval.id},
            )
        await pilot.press("u")
        await wait_for(pilot, notified(app, "nothing to undo"))
        assert daemon.status_of(approval.id) == "executing"


async def test_space_marks_rows_for_one_bulk_decision(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    first = daemon.draft(raw=email_bytes(subject="One", message_id="<1@x>"))
    second = daemon.draft(raw=email_bytes(subject="Two", message_id="<2@x>"))
    third = daemon.draft(raw=email_bytes(subject="Three", message_id="<3@x>"))
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, third.id))
        await pilot.press("space", "space")  # marks third and second, moving down
        await wait_for(pilot, lambda: "2 marked" in screen_text(app))
        await pilot.press("i")
        await wait_for(pilot, wait_statuses(daemon, [third.id, second.id], "ignored"))
        await wait_for(pilot, lambda: queue_keys(app) == [first.id])
        assert daemon.status_of(first.id) == "pending"
        await pilot.press("u")  # undo takes the whole bulk decision back
        await wait_for(pilot, wait_statuses(daemon, [third.id, second.id], "pending"))


async def test_bulk_reject_applies_one_reason_to_every_marked_row(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    first = daemon.draft(raw=email_bytes(subject="One", message_id="<1@x>"))
    second = daemon.draft(raw=email_bytes(subject="Two", message_id="<2@x>"))
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, second.id))
        await pilot.press("space", "space", "r")
        await wait_for(pilot, lambda: "Reject 2 actions" in screen_text(app))
        await type_text(pilot, "spam")
        await pilot.press("enter")
        await wait_for(pilot, wait_statuses(daemon, [first.id, second.id], "rejected"))
        assert {daemon.queue.get(i).decision_message for i in (first.id, second.id)} == {"spam"}


async def test_x_clears_the_marks(daemon: DaemonStandIn, tui: Callable[..., AmbientApp]) -> None:
    daemon.draft(raw=email_bytes(subject="One", message_id="<1@x>"))
    second = daemon.draft(raw=email_bytes(subject="Two", message_id="<2@x>"))
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, second.id))
        await pilot.press("space")
        await wait_for(pilot, lambda: "1 marked" in screen_text(app))
        await pilot.press("x")
        await wait_for(pilot, lambda: "marked" not in screen_text(app))


async def test_a_decision_on_a_stale_draft_is_refused_and_the_row_shown_again(
    daemon: DaemonStandIn, clock: FrozenClock, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft(raw=email_bytes(subject="Lunch?", message_id="<lunch@x>"))
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        # while the human looks, Alice writes again in the same thread
        follow_up = email_bytes(subject="Re: Lunch?", message_id="<lunch2@x>").replace(
            b"Message-ID:", b"In-Reply-To: <lunch@x>\nReferences: <lunch@x>\nMessage-ID:", 1
        )
        daemon.ingest(follow_up)
        await pilot.press("a")
        await wait_for(pilot, notified(app, "stale"))
        assert daemon.status_of(approval.id) == "pending"
        fresh_hash = daemon.queue.get(approval.id).shown_hash

        def detail_refreshed() -> bool:
            view = app.screen.query_one(DetailPane).view
            return view is not None and view.shown_hash == fresh_hash

        await wait_for(pilot, detail_refreshed)
        await pilot.press("a")  # what is shown now is what gets approved
        await wait_for(pilot, wait_statuses(daemon, [approval.id], "approved"))


async def test_a_database_error_is_a_message_not_a_crash(
    daemon: DaemonStandIn, engine: Engine, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE approval RENAME TO approval_away"))
        await wait_for(pilot, notified(app, "database:"))
        assert app.is_running
        await pilot.press("a")  # deciding while the table is gone: an error message too
        await wait_for(
            pilot, lambda: sum("approval" in str(n.message) for n in app._notifications) >= 2
        )
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE approval_away RENAME TO approval"))
        second = daemon.draft(raw=email_bytes(subject="After", message_id="<after@x>"))
        await wait_for(pilot, lambda: second.id in queue_keys(app))
        assert app.is_running


class RecordedEvents:
    """Stands in for tracing: what the queue reports after each committed decision."""

    def __init__(self) -> None:
        self.decisions: list[tuple[int | None, str]] = []

    def decided(self, approval: Approval) -> None:
        self.decisions.append((approval.id, approval.decision.value if approval.decision else ""))

    def executed(self, approval: Approval, outcome: str) -> None:
        raise AssertionError("the TUI never executes anything")


async def test_decisions_made_in_the_app_reach_the_approval_events(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    events = RecordedEvents()
    app = tui(events=events)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        await pilot.press("i")
        await wait_for(pilot, lambda: events.decisions == [(approval.id, "ignored")])
