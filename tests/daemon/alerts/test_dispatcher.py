"""The alerts dispatcher, driven tick by tick on the frozen clock: batching, the rate limit,
quiet hours (held, then one summary), bodies kept out, failing channels, restarts."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from ambient.core.config import Settings
from ambient.core.review import ItemReview
from ambient.daemon.alerts.channel import Alert
from tests.conftest import FrozenClock
from tests.daemon.alerts.waiting import SECRET_BODY, RecordingChannel, Waiting, dispatcher


@pytest.fixture
def waiting(engine: Engine, clock: FrozenClock, settings: Settings) -> Waiting:
    return Waiting(engine, clock, settings)


def tick(dispatch: object) -> None:
    asyncio.run(dispatch.tick())  # type: ignore[attr-defined]


def test_two_hundred_new_things_make_one_alert_per_channel_with_the_count(
    engine: Engine, clock: FrozenClock, waiting: Waiting
) -> None:
    desktop, phone = RecordingChannel("desktop"), RecordingChannel("http")
    dispatch = dispatcher(engine, clock, desktop, phone, max_lines=10)
    for number in range(150):
        waiting.draft(f"Question {number}")
    for number in range(50):
        waiting.notify(f"Receipt {number}")

    tick(dispatch)  # noticed: the batch gathers for batch_seconds
    clock.advance(seconds=59)
    tick(dispatch)
    assert desktop.sent == [] and phone.sent == []

    clock.advance(seconds=1)
    tick(dispatch)
    for _ in range(5):
        clock.advance(seconds=30)
        tick(dispatch)

    assert len(desktop.sent) == 1 and len(phone.sent) == 1
    (alert,) = desktop.sent
    assert alert.count == 200
    assert alert.title == "ambient: 150 drafts and 50 items to read wait for you"
    assert len(alert.lines) == 11 and alert.lines[-1] == "and 190 more"
    assert alert.lines[0] == ("draft (reply dana@example.com): Question 0 — from Dana")
    assert alert.tags == ("draft", "notify")
    assert len(alert.approval_ids) == 150 and len(alert.item_ids) == 50


def test_what_comes_within_the_rate_limit_goes_into_the_next_alert(
    engine: Engine, clock: FrozenClock, waiting: Waiting
) -> None:
    channel = RecordingChannel("command")
    dispatch = dispatcher(engine, clock, channel, batch_seconds=60, min_interval_seconds=300)
    waiting.draft()
    tick(dispatch)
    clock.advance(seconds=60)
    tick(dispatch)
    assert [alert.count for alert in channel.sent] == [1]

    for minute in range(1, 5):  # a trickle: one new thing a minute
        clock.advance(seconds=60)
        waiting.notify(f"Update {minute}")
        tick(dispatch)
    assert len(channel.sent) == 1  # 240 s after the first alert: still rate-limited

    clock.advance(seconds=60)
    tick(dispatch)
    assert [alert.count for alert in channel.sent] == [1, 4]
    assert channel.sent[1].title == "ambient: 4 items to read wait for you"


def test_quiet_hours_hold_alerts_across_midnight_then_send_one_summary(
    engine: Engine, clock: FrozenClock, waiting: Waiting
) -> None:
    clock.current = datetime(2026, 11, 24, 21, 58, 30, tzinfo=UTC)  # 22:58:30 in Berlin
    channel = RecordingChannel("desktop")
    dispatch = dispatcher(
        engine, clock, channel, quiet_hours="23:00-07:00", timezone="Europe/Berlin"
    )
    waiting.draft("Before the night")
    tick(dispatch)
    clock.advance(seconds=90)  # 23:00 Berlin: the batch would be due, the night has begun
    tick(dispatch)
    for hours in (1, 2, 3):  # 00:00, 02:00 and 05:00: after midnight, still quiet
        clock.advance(hours=hours)
        waiting.question(f"At night {hours}")
        tick(dispatch)
    clock.current = datetime(2026, 11, 25, 5, 59, 59, tzinfo=UTC)  # 06:59:59 Berlin
    tick(dispatch)
    assert channel.sent == []

    clock.advance(seconds=1)  # 07:00 Berlin: what was held goes as one summary, at once
    tick(dispatch)
    (summary,) = channel.sent
    assert summary.count == 4
    assert summary.title == (
        "ambient: 1 draft and 3 questions wait for you (held over quiet hours)"
    )
    assert summary.urgency == "low"

    clock.advance(minutes=10)  # the day goes on as usual: gathered, then sent
    waiting.notify("Morning news")
    tick(dispatch)
    clock.advance(seconds=60)
    tick(dispatch)
    assert [alert.count for alert in channel.sent] == [4, 1]
    assert channel.sent[1].urgency == "normal"
    assert [entry.kind for entry in dispatch.recent()] == ["alert", "summary"]


def test_no_body_text_leaves_unless_include_body(
    engine: Engine, clock: FrozenClock, waiting: Waiting
) -> None:
    waiting.draft()
    waiting.question()
    waiting.notify()
    plain, with_bodies = RecordingChannel("plain"), RecordingChannel("bodies")
    for channel, include_body in ((plain, False), (with_bodies, True)):
        dispatch = dispatcher(engine, clock, channel, include_body=include_body)
        tick(dispatch)
        clock.advance(seconds=60)
        tick(dispatch)

    (alert,) = plain.sent
    assert SECRET_BODY not in repr(alert) and "4711" not in repr(alert)
    assert alert.lines == (
        "draft (reply dana@example.com): Lunch on Friday? — from Dana",
        "question: Which room? — from Dana",
        "to read: Invoice paid — from Dana",
    )
    (shown,) = with_bodies.sent
    assert all("4711" in line for line in shown.lines)  # a short excerpt of each
    assert shown.lines[1] == (
        f"question: Which room? — from Dana — “Should I mention {SECRET_BODY}?”"
    )


def test_a_failing_channel_is_logged_and_the_others_deliver(
    engine: Engine,
    clock: FrozenClock,
    waiting: Waiting,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good, broken = RecordingChannel("desktop"), RecordingChannel("http", failure="answered 500")
    dispatch = dispatcher(engine, clock, good, broken)
    waiting.draft()
    tick(dispatch)
    clock.advance(seconds=60)
    with caplog.at_level(logging.ERROR, logger="ambient.daemon.alerts"):
        tick(dispatch)
    assert len(good.sent) == 1
    assert "alert channel=http count=1 failed: http: answered 500" in caplog.text
    logged = {entry.channel: entry for entry in dispatch.recent()}
    assert logged["desktop"].ok and logged["desktop"].error is None
    assert not logged["http"].ok and logged["http"].error == "http: answered 500"

    # the failed channel keeps what it missed: after the rate limit it gets it, with the new
    waiting.notify()
    broken.failure = None
    clock.advance(seconds=299)
    tick(dispatch)
    assert broken.sent == []
    clock.advance(seconds=1)
    tick(dispatch)
    assert [alert.count for alert in broken.sent] == [2]
    assert [alert.count for alert in good.sent] == [1]  # its new one still gathers
    clock.advance(seconds=60)
    tick(dispatch)
    assert [alert.count for alert in good.sent] == [1, 1]
    assert [alert.count for alert in broken.sent] == [2]


def test_a_channel_that_hangs_or_raises_does_not_stop_the_others(
    engine: Engine, clock: FrozenClock, waiting: Waiting, caplog: pytest.LogCaptureFixture
) -> None:
    class Hanging:
        name = "hanging"

        async def send(self, alert: Alert) -> None:
            await asyncio.Event().wait()  # never answers: the dispatcher's timeout ends it

    class Raising:
        name = "raising"

        async def send(self, alert: Alert) -> None:
            raise RuntimeError("a bug in the channel")

    good = RecordingChannel("desktop")
    dispatch = dispatcher(engine, clock, good, send_timeout_seconds=0.2)
    dispatch.channels.immediate.extend([Hanging(), Raising()])
    waiting.draft()
    tick(dispatch)
    clock.advance(seconds=60)
    with caplog.at_level(logging.ERROR, logger="ambient.daemon.alerts"):
        tick(dispatch)
    assert len(good.sent) == 1
    errors = {entry.channel: entry.error for entry in dispatch.recent()}
    assert errors == {
        "desktop": None,
        "hanging": "hanging: no answer within 0.2 s",
        "raising": "raising: RuntimeError: a bug in the channel",
    }
    assert "alert channel=raising raised" in caplog.text  # with its traceback


def test_a_restart_does_not_alert_again_and_misses_nothing(
    engine: Engine, clock: FrozenClock, waiting: Waiting
) -> None:
    before = RecordingChannel("desktop")
    dispatch = dispatcher(engine, clock, before)
    for _ in range(3):
        waiting.draft()
    tick(dispatch)
    clock.advance(seconds=60)
    tick(dispatch)
    assert [alert.count for alert in before.sent] == [3]

    waiting.notify("While ambient was down")  # the daemon is stopped; mail goes on
    clock.advance(minutes=30)
    after = RecordingChannel("desktop")
    restarted = dispatcher(engine, clock, after)
    tick(restarted)
    clock.advance(seconds=60)
    tick(restarted)
    clock.advance(minutes=10)
    tick(restarted)
    (alert,) = after.sent
    assert alert.count == 1 and alert.lines == ("to read: While ambient was down — from Dana",)


def test_what_the_human_settles_before_the_batch_ends_is_not_alerted(
    engine: Engine, clock: FrozenClock, waiting: Waiting
) -> None:
    channel = RecordingChannel("desktop")
    dispatch = dispatcher(engine, clock, channel, on=["drafts", "notify"])
    read_at_once = waiting.notify("Read at once")
    waiting.notify("Left unread")
    waiting.question("Not alerted: questions are off")
    tick(dispatch)
    ItemReview(engine, clock).read([read_at_once])
    clock.advance(seconds=60)
    tick(dispatch)
    (alert,) = channel.sent
    assert alert.lines == ("to read: Left unread — from Dana",)


def test_nothing_is_noticed_or_sent_when_alerts_are_off(
    engine: Engine, clock: FrozenClock, waiting: Waiting
) -> None:
    channel = RecordingChannel("desktop")
    dispatch = dispatcher(engine, clock, channel, enabled=False)
    waiting.draft()
    for _ in range(3):
        tick(dispatch)
        clock.advance(minutes=10)
    assert channel.sent == [] and dispatch.recent() == []


def test_the_alert_log_forgets_alerts_older_than_ninety_days(
    engine: Engine, clock: FrozenClock, waiting: Waiting
) -> None:
    channel = RecordingChannel("desktop")
    dispatch = dispatcher(engine, clock, channel)
    waiting.draft()
    tick(dispatch)
    clock.advance(seconds=60)
    tick(dispatch)
    clock.advance(days=91)
    waiting.notify()
    tick(dispatch)
    clock.advance(seconds=60)
    tick(dispatch)
    assert [entry.count for entry in dispatch.recent()] == [1]
    assert len(channel.sent) == 2
