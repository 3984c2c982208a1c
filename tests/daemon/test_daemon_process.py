"""The daemon as a real process (`python -m ambient run`), as systemd runs it.

A test binds the NOTIFY_SOCKET itself, sends real signals, and reads the database the daemon
writes. Two test hooks of ambient.daemon.runner are used: AMBIENT_DEBUG_ITEM_DELAY_SECONDS makes
each item take a while (so SIGTERM lands mid-work) and AMBIENT_DEBUG_STALL_SECONDS makes SIGUSR1
block the event loop (so the watchdog can be seen to stop).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from ambient.core.config import Settings
from ambient.core.db import read_session
from ambient.core.tables import Item
from ambient.sources.maildir import deliver
from tests.daemon.mail import email_bytes
from tests.daemon.notify_listener import Notification, NotifyListener, wait_until

pytestmark = pytest.mark.slow
FINISHED = {"done", "awaiting_approval"}  # the agent's outcome for an item; both are final here

CONFIG = """\
[worker]
concurrency = {concurrency}
interval_seconds = 0.2
drain_seconds = {drain}
poll_jitter_seconds = 0

[[sources]]
type = "maildir"
name = "inbox"
interval_seconds = 0.3
"""


@dataclass
class DaemonProcess:
    process: subprocess.Popen[bytes]
    notifications: NotifyListener
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def send(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait_exit(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"daemon still running after {timeout}s:\n{self.log()}") from None

    def wait_ready(self, after: int = 0) -> Notification:
        """The (after+1)-th READY=1."""
        messages = self.notifications.wait_for(
            lambda got: sum(m.fields.get("READY") == "1" for m in got) > after, timeout=30
        )
        return [m for m in messages if m.fields.get("READY") == "1"][after]


@pytest.fixture
def notifications() -> Iterator[NotifyListener]:
    listener = NotifyListener()
    yield listener
    listener.close()


@pytest.fixture
def start_daemon(ambient_home: Path, notifications: NotifyListener) -> Iterator[object]:
    started: list[DaemonProcess] = []

    def start(*, concurrency: int = 2, drain: float = 10, **environment: str) -> DaemonProcess:
        config = ambient_home / "ambient.toml"
        if not config.exists():
            config.write_text(CONFIG.format(concurrency=concurrency, drain=drain))
        env = {
            **os.environ,
            "AMBIENT_HOME": str(ambient_home),
            "AMBIENT_MODEL": "test",
            "NOTIFY_SOCKET": notifications.address,
            **environment,
        }
        log_path = ambient_home / f"daemon-{len(started)}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "ambient", "run"],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=ambient_home,
            )
        daemon = DaemonProcess(process, notifications, log_path)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(timeout=10)


def states(engine: Engine) -> dict[int, str]:
    """Item id -> state, with the agent's final outcomes shown as "finished"."""
    with read_session(engine) as session:
        rows = list(session.exec(select(Item)))
    return {
        row.id: "finished" if row.state in FINISHED else str(row.state) for row in rows if row.id
    }


def deliver_many(settings: Settings, count: int, prefix: str = "m") -> None:
    for number in range(count):
        deliver(
            settings.maildir_path,
            email_bytes(f"{prefix} {number}", message_id=f"<{prefix}{number}@example.com>"),
        )


def test_sigterm_mid_work_finishes_in_flight_items_exits_zero_and_loses_nothing(
    start_daemon, settings: Settings, engine: Engine
) -> None:
    deliver_many(settings, 12)
    daemon = start_daemon(AMBIENT_DEBUG_ITEM_DELAY_SECONDS="0.4")
    ready = daemon.wait_ready()
    assert "awaiting approval" in ready.fields["STATUS"] or "running" in ready.fields["STATUS"]
    assert "last poll" in ready.fields["STATUS"]
    wait_until(
        lambda: (
            list(states(engine).values()).count("finished") >= 2
            and "processing" in states(engine).values()
        ),
        what="some items done and some in flight",
    )
    in_flight = [item for item, state in states(engine).items() if state == "processing"]
    daemon.send(signal.SIGTERM)

    assert daemon.wait_exit() == 0, daemon.log()
    final = states(engine)
    assert len(final) == 12
    assert all(final[item] == "finished" for item in in_flight)  # drained, not dropped
    assert set(final.values()) <= {"finished", "new"}  # nothing left leased or lost
    assert "new" in final.values()  # it stopped taking work
    stopping = daemon.notifications.with_field("STOPPING", "1")
    assert stopping and stopping[0].fields["STATUS"].startswith("stopping: draining")
    assert "released" not in daemon.log()

    rerun = subprocess.run(
        [sys.executable, "-m", "ambient", "run", "--once"],
        env={**os.environ, "AMBIENT_MODEL": "test"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert set(states(engine).values()) == {"finished"}


def test_sigterm_after_the_drain_grace_releases_unfinished_items_to_the_queue(
    start_daemon, settings: Settings, engine: Engine
) -> None:
    deliver_many(settings, 3)
    daemon = start_daemon(drain=0.3, AMBIENT_DEBUG_ITEM_DELAY_SECONDS="60")
    daemon.wait_ready()
    wait_until(lambda: list(states(engine).values()).count("processing") == 2, what="2 in flight")
    daemon.send(signal.SIGTERM)

    assert daemon.wait_exit(timeout=15) == 0, daemon.log()
    assert sorted(states(engine).values()) == ["new", "new", "new"]
    assert "released 2 unfinished item(s) back to the queue" in daemon.log()


def test_sighup_reloads_sources_and_memory_and_keeps_running_on_a_broken_config(
    start_daemon, settings: Settings, engine: Engine, ambient_home: Path
) -> None:
    daemon = start_daemon()
    daemon.wait_ready()
    extra = ambient_home / "extra-mail"
    deliver(extra, email_bytes("from the new source", message_id="<extra1@example.com>"))
    config = ambient_home / "ambient.toml"
    config.write_text(
        config.read_text()
        + f'\n[[sources]]\ntype = "maildir"\nname = "extra"\npath = "{extra}"\n'
        + "interval_seconds = 0.3\n"
    )
    settings.memory_dir.mkdir(parents=True, exist_ok=True)
    (settings.memory_dir / "projects.md").write_text("# Projects\n\n- the Friday launch\n")
    daemon.send(signal.SIGHUP)

    reloaded = daemon.wait_ready(after=1)
    reloading = daemon.notifications.with_field("RELOADING", "1")
    assert reloading and reloading[0].at <= reloaded.at
    wait_until(lambda: _sources(engine) == {"extra": "finished"}, what="the new source's item")
    wait_until(lambda: "memory re-read" in daemon.log(), what="the memory summary")
    assert "projects.md" in daemon.log().split("memory re-read")[1].splitlines()[0]

    config.write_text("[worker\nconcurrency = 2\n")  # not TOML
    daemon.send(signal.SIGHUP)
    daemon.wait_ready(after=2)
    wait_until(lambda: "reload failed" in daemon.log(), what="the reload error")
    assert "keeping the running configuration" in daemon.log()
    assert "not valid TOML" in daemon.log()
    deliver(extra, email_bytes("still watched", message_id="<extra2@example.com>"))
    wait_until(
        lambda: (
            list(_sources(engine, all_items=True)).count("extra") == 2
            and set(states(engine).values()) == {"finished"}
        ),
        what="the kept configuration still polling the new source",
    )
    daemon.send(signal.SIGTERM)
    assert daemon.wait_exit() == 0, daemon.log()


def _sources(engine: Engine, *, all_items: bool = False) -> dict[str, str] | list[str]:
    with read_session(engine) as session:
        rows = list(session.exec(select(Item)))
    if all_items:
        return [row.source for row in rows]
    return {
        row.source: "finished" if row.state in FINISHED else str(row.state)
        for row in rows
        if row.source != "inbox"
    }


def test_a_stalled_event_loop_stops_the_watchdog_pings(start_daemon) -> None:
    daemon = start_daemon(WATCHDOG_USEC="400000", AMBIENT_DEBUG_STALL_SECONDS="1.5")
    daemon.wait_ready()
    listener = daemon.notifications
    listener.wait_for(lambda got: sum(m.fields.get("WATCHDOG") == "1" for m in got) >= 5)
    before = [m.at for m in listener.with_field("WATCHDOG", "1")]
    signalled = time.monotonic()
    daemon.send(signal.SIGUSR1)
    listener.wait_for(
        lambda got: (
            sum(m.fields.get("WATCHDOG") == "1" and m.at > signalled + 1.5 for m in got) >= 3
        ),
        timeout=20,
    )
    after = [m.at for m in listener.with_field("WATCHDOG", "1") if m.at > signalled]

    def largest_gap(times: list[float]) -> float:
        return max(later - earlier for earlier, later in zip(times, times[1:], strict=False))

    assert largest_gap(before) < 0.6  # pings every ~0.2s while healthy
    assert largest_gap([before[-1], *after]) >= 1.4  # none while the loop was blocked
    assert "watchdog ping withheld" in daemon.log()
    daemon.send(signal.SIGTERM)
    assert daemon.wait_exit() == 0, daemon.log()


async def test_a_stop_requested_while_starting_closes_what_was_opened(
    settings: Settings, notifications: NotifyListener, engine: Engine
) -> None:
    """In process: SIGTERM lands while the database and the agent are still being set up."""
    from ambient.core.config import load_settings
    from ambient.daemon.health import read_health
    from ambient.daemon.notify import Notifier
    from ambient.daemon.runner import DaemonProcess
    from ambient.runtime import Runtime
    from tests.conftest import FrozenClock

    _, secrets = load_settings()
    process = DaemonProcess(Runtime(settings, secrets), notifier=Notifier(notifications.address))
    serving = asyncio.create_task(process.serve())
    await asyncio.sleep(0)  # serve() installs its signal handlers and starts opening
    process._request_stop(signal.SIGTERM)  # what the loop's SIGTERM handler calls

    assert await asyncio.wait_for(serving, timeout=30) == 0
    assert process.daemon is not None and process.daemon.scheduler is None  # never started
    assert notifications.with_field("READY") == []
    await notifications.wait_for_async(lambda got: any("STOPPING" in m.fields for m in got))
    assert read_health(engine, FrozenClock()).status == "never started"
