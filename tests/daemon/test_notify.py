"""sd_notify over a real unix datagram socket the test binds: READY, STATUS, WATCHDOG, STOPPING…"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from ambient.daemon.notify import Notifier, Watchdog, watchdog_interval
from tests.daemon.notify_listener import Notification, NotifyListener


@pytest.fixture(params=["abstract", "path"])
def listener(request: pytest.FixtureRequest) -> Iterator[NotifyListener]:
    receiver = NotifyListener(abstract=request.param == "abstract")
    yield receiver
    receiver.close()


@contextlib.asynccontextmanager
async def running(watchdog: Watchdog) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(watchdog.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def pings(listener: NotifyListener) -> list[Notification]:
    return listener.with_field("WATCHDOG", "1")


def test_ready_status_stopping_and_reloading_reach_the_socket(listener: NotifyListener) -> None:
    notifier = Notifier(listener.address)
    assert notifier.ready("2 awaiting approval; last poll 09:00:00 UTC")
    assert notifier.reloading()
    assert notifier.ready()
    assert notifier.stopping("stopping: draining 1 in-flight item(s)")
    messages = listener.wait_for(lambda got: len(got) == 4)
    notifier.close()

    assert messages[0].fields == {
        "READY": "1",
        "STATUS": "2 awaiting approval; last poll 09:00:00 UTC",
    }
    assert messages[1].fields["RELOADING"] == "1"
    assert int(messages[1].fields["MONOTONIC_USEC"]) <= time.monotonic_ns() // 1000
    assert messages[2].fields == {"READY": "1"}
    assert messages[3].fields == {
        "STOPPING": "1",
        "STATUS": "stopping: draining 1 in-flight item(s)",
    }


def test_status_is_one_line_and_sent_only_when_it_changes(listener: NotifyListener) -> None:
    notifier = Notifier(listener.address)
    assert notifier.status("3 new,\n1 in progress")
    assert not notifier.status("3 new, 1 in progress")  # same line: nothing sent
    assert notifier.status("2 new, 2 in progress")
    messages = listener.wait_for(lambda got: len(got) == 2)
    notifier.close()

    assert [message.raw for message in messages] == [
        "STATUS=3 new, 1 in progress",
        "STATUS=2 new, 2 in progress",
    ]


def test_without_notify_socket_every_call_is_a_quiet_no_op() -> None:
    environ = {"HOME": "/home/someone"}
    notifier = Notifier.from_environment(environ)
    assert not notifier.enabled
    assert not notifier.ready("ready")
    assert not notifier.watchdog()
    assert not notifier.stopping()


def test_notify_socket_is_unset_so_child_processes_do_not_inherit_it() -> None:
    environ = {"NOTIFY_SOCKET": "@ambient-x"}
    notifier = Notifier.from_environment(environ)
    assert notifier.address == "@ambient-x"
    assert "NOTIFY_SOCKET" not in environ


def test_an_unreachable_socket_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier("@ambient-nobody-listens-here")
    assert not notifier.ready()
    assert "sd_notify to @ambient-nobody-listens-here failed" in caplog.text


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "4242"}, 0.2),
        ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process(
    environ: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(environ, pid=4242) == expected


@pytest.mark.parametrize("listener", ["abstract"], indirect=True)
async def test_watchdog_pings_at_its_interval(listener: NotifyListener) -> None:
    watchdog = Watchdog(Notifier(listener.address), 0.1)
    async with running(watchdog):
        await listener.wait_for_async(lambda got: len(got) >= 8)
    times = [message.at for message in pings(listener)]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert all(0.08 <= gap <= 0.3 for gap in gaps), gaps
    assert watchdog.withheld == 0


@pytest.mark.parametrize("listener", ["abstract"], indirect=True)
async def test_watchdog_stops_pinging_while_the_event_loop_is_stalled(
    listener: NotifyListener,
) -> None:
    watchdog = Watchdog(Notifier(listener.address), 0.1)
    async with running(watchdog):
        await listener.wait_for_async(lambda got: len(got) >= 3)
        stalled_at = time.monotonic()
        time.sleep(0.8)  # noqa: ASYNC251 - the point: block the loop the watchdog runs on
        released_at = time.monotonic()
        await listener.wait_for_async(lambda got: any(m.at > released_at for m in got[3:]))
        await listener.wait_for_async(lambda got: sum(m.at > released_at for m in got) >= 3)
    during = [m for m in pings(listener) if stalled_at + 0.05 < m.at < released_at]
    assert during == []
    first_after = min(m.at for m in pings(listener) if m.at > released_at)
    # the probe that wakes after the stall sees the lag and withholds the ping; the next pings
    assert watchdog.withheld >= 1
    assert first_after - released_at < 0.5


@pytest.mark.parametrize("listener", ["abstract"], indirect=True)
async def test_watchdog_withholds_pings_while_the_daemon_reports_unhealthy(
    listener: NotifyListener,
) -> None:
    healthy = True
    watchdog = Watchdog(Notifier(listener.address), 0.05, healthy=lambda: healthy)
    async with running(watchdog):
        await listener.wait_for_async(lambda got: len(got) >= 2)
        healthy = False
        withheld_before = watchdog.withheld
        await until(lambda: watchdog.withheld >= withheld_before + 3)
        count = len(pings(listener))
        await until(lambda: watchdog.withheld >= withheld_before + 6)
        assert len(pings(listener)) == count
        healthy = True
        await listener.wait_for_async(lambda got: len(got) > count)
