"""Start-up: the leases and the heartbeat of a daemon that died on this host do not hold it up."""

from __future__ import annotations

import logging
import os

import pytest

from ambient.core.config import Secrets, Settings
from ambient.core.items import InboundItem, ItemState
from ambient.core.leases import this_machine
from ambient.daemon.health import HeartbeatRecorder, read_health
from ambient.daemon.runner import DaemonProcess, warn_if_another_daemon
from ambient.runtime import Runtime
from tests.conftest import FrozenClock
from tests.daemon.mail import email_bytes
from tests.daemon.process import dead_pid

ANOTHER_DAEMON = "another ambient daemon"


async def test_a_pass_after_a_crash_on_this_host_takes_the_dead_process_items_at_once(
    settings: Settings, secrets: Secrets, clock: FrozenClock
) -> None:
    runtime = Runtime(settings, secrets, clock)
    try:
        ledger = runtime.ledger
        host, gone = this_machine(), dead_pid()
        crashed = ledger.ingest(InboundItem("inbox", "k1", email_bytes(message_id="<a@x>")))
        remote = ledger.ingest(InboundItem("inbox", "k2", email_bytes(message_id="<b@x>")))
        ledger.claim(f"{host}:{gone}:0123456789ab", 1)
        ledger.claim(f"other-{host}:{gone}:0123456789ab", 1)
    finally:
        runtime.close()

    assert await DaemonProcess(Runtime(settings, secrets, clock)).once() == 0  # same instant

    runtime = Runtime(settings, secrets, clock)
    try:
        assert runtime.ledger.get(crashed.item_id).state != ItemState.PROCESSING
        still = runtime.ledger.get(remote.item_id)  # another machine's lease still holds
        assert still.state == ItemState.PROCESSING and still.attempts == 1
    finally:
        runtime.close()


def test_no_other_daemon_warning_when_the_heartbeat_process_is_gone(
    settings: Settings, secrets: Secrets, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = Runtime(settings, secrets, clock)
    try:
        host = this_machine()
        HeartbeatRecorder(runtime.engine, clock, "test", f"{host}:{dead_pid()}").beat("busy")
        with caplog.at_level(logging.WARNING):
            warn_if_another_daemon(runtime)
        assert ANOTHER_DAEMON not in caplog.text
        health = read_health(runtime.engine, clock)
        assert not health.alive and health.status == "process gone"

        clock.advance(seconds=1)  # a daemon that does run (this test's parent process)
        HeartbeatRecorder(runtime.engine, clock, "test", f"{host}:{os.getppid()}").beat("busy")
        with caplog.at_level(logging.WARNING):
            warn_if_another_daemon(runtime)
        assert ANOTHER_DAEMON in caplog.text
    finally:
        runtime.close()
