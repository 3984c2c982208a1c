"""The queue and the detail pane, live against a database a second writer changes."""

from __future__ import annotations

from collections.abc import Callable

from ambient.core.config import Secrets
from ambient.tui.app import AmbientApp
from ambient.tui.widgets.detail import DetailPane
from tests.conftest import FrozenClock
from tests.tui.conftest import (
    DaemonStandIn,
    email_bytes,
    queue_keys,
    screen_text,
    shows_detail,
    squeezed,
    wait_for,
)


def loaded(app: AmbientApp) -> Callable[[], bool]:
    def first_listing_shown() -> bool:
        return bool(getattr(app.screen, "loaded", False))

    return first_listing_shown


async def test_queue_lists_kind_who_summary_age_and_warning_flag(
    daemon: DaemonStandIn, clock: FrozenClock, tui: Callable[..., AmbientApp]
) -> None:
    reply = daemon.draft(raw=email_bytes(subject="Lunch on Friday?"))
    send = daemon.draft(
        "send_email",
        {"to": ["bob@elsewhere.example"], "subject": "Introduction", "body": "Hello Bob"},
        raw=email_bytes(subject="Please introduce me to Bob", message_id="<intro@x>"),
    )
    clock.advance(minutes=12)
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, loaded(app))
        assert queue_keys(app) == [send.id, reply.id]  # newest first
        lines = squeezed(screen_text(app))
        # ▸ marks the cursor's row without colour; ⚠: the recipient is outside the thread
        assert "▸ send bob@elsewhere.example Introduction 12m ⚠" in lines
        assert "reply alice@example.com Re: Lunch on Friday? 12m" in lines
        assert "2 to decide" in lines[0]


async def test_the_cursor_marker_follows_the_cursor_and_marks_show_as_dots(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    daemon.draft(raw=email_bytes(subject="First", message_id="<1@x>"))
    daemon.draft(raw=email_bytes(subject="Second", message_id="<2@x>"))
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, loaded(app))
        await pilot.press("space")  # marks the first row, moves to the second
        lines = screen_text(app).splitlines()
        assert lines[2].startswith(" ●reply") and "Re: Second" in lines[2]
        assert lines[3].startswith("▸ reply") and "Re: First" in lines[3]
        assert sum(line.count("▸") for line in lines) == 1
        assert all(len(line) <= 80 for line in lines)


async def test_row_ages_move_on_with_the_status_bar(
    daemon: DaemonStandIn, clock: FrozenClock, tui: Callable[..., AmbientApp]
) -> None:
    daemon.draft()
    clock.advance(seconds=56)
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, loaded(app))
        assert "Re: Lunch on Friday? 56s" in squeezed(screen_text(app))[2]
        clock.advance(seconds=20)  # no new rows, nothing else changes: only time passes
        await wait_for(pilot, lambda: "Re: Lunch on Friday? 1m" in squeezed(screen_text(app))[2])


async def test_rows_drafted_while_running_appear_and_rows_decided_elsewhere_disappear(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    first = daemon.draft(raw=email_bytes(subject="First", message_id="<1@x>"))
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, loaded(app))
        assert queue_keys(app) == [first.id]
        second = daemon.draft(raw=email_bytes(subject="Second", message_id="<2@x>"))
        await wait_for(pilot, lambda: queue_keys(app) == [second.id, first.id])
        assert "Re: Second" in screen_text(app)
        # another process (the CLI) rejects the first: it leaves the running app's queue
        daemon.queue.reject(
            first.id, shown_hash=daemon.queue.get(first.id).shown_hash, reason="no", actor="cli"
        )
        await wait_for(pilot, lambda: queue_keys(app) == [second.id])
        assert "Re: First" not in screen_text(app)


async def test_urgent_drafts_come_before_newer_ordinary_ones(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    urgent = daemon.draft(
        raw=email_bytes(subject="Server down", message_id="<u@x>"), priority="high"
    )
    normal = daemon.draft(raw=email_bytes(subject="Newsletter", message_id="<n@x>"), priority="low")
    newest = daemon.draft(raw=email_bytes(subject="Coffee", message_id="<c@x>"))
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, loaded(app))
        assert queue_keys(app) == [urgent.id, newest.id, normal.id]


async def test_detail_shows_the_draft_the_reasons_and_the_original_with_html_as_text(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    raw = email_bytes(
        subject="Quarterly numbers",
        body="",
        html="<html><body><p>Hello <b>team</b>,</p><p>the numbers are in.</p></body></html>",
        message_id="<q@x>",
    )
    approval = daemon.draft(
        args={"to": ["alice@example.com"], "subject": "Re: Quarterly numbers", "body": "Thanks!"},
        raw=raw,
        rationale="Alice shared figures; a short thank-you is polite.",
    )
    app = tui()
    async with app.run_test(size=(100, 60)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        text = screen_text(app)
        assert f"#{approval.id} reply_email · pending" in text
        assert "To: alice@example.com" in text
        assert "Subject: Re: Quarterly numbers" in text
        assert "Thanks!" in text
        assert "Alice shared figures; a short thank-you is polite." in text
        assert "triage: act · normal · asks about lunch" in text
        assert "From: Alice Example <alice@example.com>" in text
        assert "Hello team ," in text or "Hello team," in text
        assert "<b>" not in text  # HTML rendered as text
        assert "/trace/" not in text  # tracing is not configured: no link


async def test_detail_section_headings_fit_on_one_line_at_80_columns(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    app = tui()
    async with app.run_test(size=(80, 60)) as pilot:  # tall: the whole detail in view
        await wait_for(pilot, shows_detail(app, approval.id))
        await wait_for(pilot, lambda: "── original #" in screen_text(app))
        lines = screen_text(app).splitlines()
        (heading,) = [line for line in lines if "── original #" in line]
        assert f"── original #{approval.item_id} (inbox, waiting) ─" in heading
        following = lines[lines.index(heading) + 1]
        assert following.strip().startswith("From:")  # the rule did not wrap


async def test_detail_links_the_langfuse_trace_when_tracing_is_configured(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    approval = daemon.draft()
    secrets = Secrets(
        {
            "LANGFUSE_PUBLIC_KEY": "pk-lf-test",
            "LANGFUSE_SECRET_KEY": "sk-lf-test",
            "LANGFUSE_BASE_URL": "https://langfuse.example.org/",
        }
    )
    app = tui(secrets=secrets)
    async with app.run_test(size=(100, 60)) as pilot:
        await wait_for(pilot, shows_detail(app, approval.id))
        assert approval.trace_id
        assert f"https://langfuse.example.org/trace/{approval.trace_id}" in screen_text(app)


async def test_moving_the_cursor_shows_each_rows_detail(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    older = daemon.draft(raw=email_bytes(subject="Older", message_id="<o@x>"))
    newer = daemon.draft(raw=email_bytes(subject="Newer", message_id="<n@x>"))
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, newer.id))
        await pilot.press("down")
        await wait_for(pilot, shows_detail(app, older.id))
        await pilot.press("k")
        await wait_for(pilot, shows_detail(app, newer.id))
        await pilot.press("G")
        await wait_for(pilot, shows_detail(app, older.id))
        await pilot.press("tab")  # to the detail, to scroll a long message
        assert isinstance(app.focused, DetailPane)
        await pilot.press("tab")
        assert app.focused is not None and app.focused.id == "queue"


async def test_status_bar_shows_daemon_health_last_poll_counts_and_model(
    daemon: DaemonStandIn, clock: FrozenClock, tui: Callable[..., AmbientApp]
) -> None:
    daemon.draft()
    daemon.poll("inbox")
    daemon.poll("work", error="connection refused")
    daemon.beat()
    clock.advance(seconds=20)
    app = tui()
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: "daemon running" in screen_text(app))
        line = screen_text(app).splitlines()[0]
        assert "● daemon running · test-model" in line
        assert "inbox 20s" in line and "work! 20s" in line
        assert "1 to decide" in line and "waiting 1" in line
        clock.advance(minutes=5)  # no heartbeat since: the daemon is not responding
        await wait_for(pilot, lambda: "daemon not responding" in screen_text(app))


async def test_status_bar_says_when_the_daemon_never_ran(
    tui: Callable[..., AmbientApp],
) -> None:
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, loaded(app))
        await wait_for(pilot, lambda: "○ daemon never started" in screen_text(app))
        assert "Nothing waits for you" in screen_text(app)
