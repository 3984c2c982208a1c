"""IMAP IDLE against a real Dovecot: push delivery, a dropped connection, renewal, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from ambient.core.config import Secrets, Settings
from ambient.daemon.service import Daemon
from ambient.runtime import Runtime
from ambient.sources.imap import ImapSource
from ambient.sources.state import SourceStateStore
from tests.daemon.mail import email_bytes
from tests.daemon.processors import AgentTestProcessor
from tests.daemon.test_worker import wait_for
from tests.servers.dovecot import DovecotServer, ImapAccount

HOUR = 3600.0


@pytest.fixture
def runtime(settings: Settings, secrets: Secrets) -> Iterator[Runtime]:
    settings.worker.poll_jitter_seconds = 0
    runtime = Runtime(settings, secrets)  # a real clock: the scheduler runs on it
    yield runtime
    runtime.close()


def push_source(runtime: Runtime, account: ImapAccount, **overrides: object) -> ImapSource:
    # scheduled polls only hourly: anything sooner arrived by IDLE
    settings = account.settings(interval_seconds=HOUR, **overrides)
    runtime.settings.sources = [settings]
    return ImapSource(settings, account.password, SourceStateStore(runtime.engine), runtime.clock)


def message_ids(runtime: Runtime) -> set[str | None]:
    return {item.message_id for item in runtime.ledger.items(limit=100)}


def idle_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("imap-idle:")]


async def start(
    runtime: Runtime, source: ImapSource
) -> tuple[Daemon, asyncio.Event, asyncio.Task[None]]:
    runtime.processor = AgentTestProcessor()
    runtime.sources = [source]
    daemon = runtime.daemon
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    await wait_for(lambda: bool(source.watchers) and source.watchers[0].connects >= 1)
    await wait_for(lambda: "work" in daemon.last_poll)  # the one scheduled poll, at start
    return daemon, stop, task


async def test_new_mail_reaches_the_ledger_by_idle_within_about_a_second(
    runtime: Runtime, imap_account: ImapAccount
) -> None:
    source = push_source(runtime, imap_account)
    _daemon, stop, task = await start(runtime, source)

    sent = time.monotonic()
    imap_account.append(email_bytes("pushed", message_id="<pushed@x>"))
    await wait_for(lambda: "<pushed@x>" in message_ids(runtime), timeout=5)
    latency = time.monotonic() - sent

    print(f"\nIDLE: appended to in the ledger in {latency:.2f} s")
    assert latency < 2.0, f"IDLE delivery took {latency:.2f} s"
    stop.set()
    await asyncio.wait_for(task, timeout=15)
    assert idle_threads() == []


async def test_a_dropped_connection_is_reconnected_and_mail_still_arrives(
    runtime: Runtime,
    imap_account: ImapAccount,
    dovecot: DovecotServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = push_source(runtime, imap_account)
    _daemon, stop, task = await start(runtime, source)
    watcher = source.watchers[0]

    dovecot.kick(imap_account.username)  # every connection of the user, mid-IDLE
    await wait_for(lambda: watcher.connects >= 2, timeout=10)
    imap_account.append(email_bytes("after the drop", message_id="<after-drop@x>"))
    await wait_for(lambda: "<after-drop@x>" in message_ids(runtime), timeout=5)

    assert watcher.failures == 1 and watcher.last_error is None  # cleared once reconnected
    assert "connection dropped: server said BYE" in caplog.text
    stop.set()
    await asyncio.wait_for(task, timeout=15)
    states = {state.name: state for state in runtime.ledger.source_states()}
    assert states["work"].last_error is None  # the poll connection reconnected by itself


async def test_a_connection_closed_without_a_word_is_noticed_and_reopened(
    runtime: Runtime, imap_account: ImapAccount, dovecot: DovecotServer
) -> None:
    source = push_source(runtime, imap_account)
    _daemon, stop, task = await start(runtime, source)
    watcher = source.watchers[0]

    # the server process dies (no BYE, just EOF), as in a crash or a NAT timeout with a RST
    for pid in dovecot.session_pids(imap_account.username):
        os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: watcher.connects >= 2, timeout=10)
    imap_account.append(email_bytes("after the crash", message_id="<after-crash@x>"))
    await wait_for(lambda: "<after-crash@x>" in message_ids(runtime), timeout=5)

    assert watcher.failures == 1
    stop.set()
    await asyncio.wait_for(task, timeout=15)


async def test_idle_is_renewed_before_the_server_would_time_it_out(
    runtime: Runtime, imap_account: ImapAccount
) -> None:
    source = push_source(runtime, imap_account, idle_renew_seconds=0.2)
    _daemon, stop, task = await start(runtime, source)
    watcher = source.watchers[0]

    await wait_for(lambda: watcher.renewals >= 3, timeout=10)
    imap_account.append(email_bytes("after renewals", message_id="<renewed@x>"))
    await wait_for(lambda: "<renewed@x>" in message_ids(runtime), timeout=5)

    assert watcher.connects == 1  # renewed on the same connection, not reconnected
    stop.set()
    await asyncio.wait_for(task, timeout=15)


async def test_cancelling_watch_stops_every_idle_thread_promptly(
    runtime: Runtime, imap_account: ImapAccount, dovecot: DovecotServer
) -> None:
    helper = imap_account.client()
    helper.create_folder("Lists")
    helper.logout()
    source = push_source(
        runtime,
        imap_account,
        mailboxes=["INBOX", "Lists"],
        security="tls",
        port=dovecot.tls_port,
        ca_file=dovecot.ca_file,
    )
    wakes: list[float] = []

    async def wake() -> None:
        wakes.append(time.monotonic())
        await asyncio.to_thread(source._poll, runtime.ledger.known_keys)

    watching = asyncio.create_task(source.watch(wake))
    await wait_for(lambda: len(source.watchers) == 2 and all(w.connects for w in source.watchers))
    assert len(idle_threads()) == 2

    stopped = time.monotonic()
    watching.cancel()
    with pytest.raises(asyncio.CancelledError):
        await watching
    assert time.monotonic() - stopped < 2.0
    assert idle_threads() == [] and wakes  # each (re)connect asked for a catch-up poll
    await source.close()
