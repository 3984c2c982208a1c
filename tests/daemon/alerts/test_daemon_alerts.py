"""Alerts in the daemon: the runtime registers the job; a failing channel is logged, traced and
written to the alert log while the other channels deliver and the daemon's work goes on."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlmodel import col, select

from ambient.core.alert_settings import AlertSettings, HttpAlertSettings
from ambient.core.config import Secrets, Settings
from ambient.core.db import read_session
from ambient.runtime import Runtime
from ambient.sources.maildir import deliver
from ambient.tracing.tables import TraceEvent
from tests.conftest import FrozenClock
from tests.daemon.alerts.test_channels import hook
from tests.daemon.alerts.waiting import SECRET_BODY, Waiting
from tests.daemon.mail import email_bytes
from tests.daemon.processors import AgentTestProcessor
from tests.servers.dbus import SessionBus
from tests.servers.notifications import NotificationServer
from tests.servers.ports import free_port


async def test_a_failing_channel_never_stops_the_daemon_and_the_hook_still_delivers(
    settings: Settings,
    secrets: Secrets,
    clock: FrozenClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = f"http://127.0.0.1:{free_port()}/topic"
    settings.alerts = AlertSettings(
        command=hook(tmp_path, ""),
        command_timeout_seconds=20,
        http=HttpAlertSettings(url=refused),
        quiet_hours="",
        desktop="off",
    )
    runtime = Runtime(settings, secrets, clock)
    runtime.processor = AgentTestProcessor()
    daemon = runtime.daemon
    assert "alerts" in [job.name for job in daemon.jobs]
    waiting = Waiting(runtime.engine, clock, settings)
    waiting.draft()
    waiting.notify()
    await daemon.run_once()  # noticed; the batch gathers

    clock.advance(seconds=60)
    deliver(settings.maildir_path, email_bytes("After the alert", message_id="<late@x>"))
    with caplog.at_level(logging.ERROR, logger="ambient.daemon.alerts"):
        result = await daemon.run_once()

    assert result == {"new": 1, "processed": 1}  # the daemon's work went on
    received = json.loads((tmp_path / "received.json").read_text())
    assert json.loads(received["stdin"])["count"] == 3  # the new mail joined the batch
    assert "alert channel=http count=3 failed: http: cannot reach 127.0.0.1:" in caplog.text
    logged = {entry.channel: entry for entry in runtime.alerts.recent()}
    assert logged["command"].ok and logged["command"].count == 3
    assert not logged["http"].ok and "cannot reach" in (logged["http"].error or "")

    with read_session(runtime.engine) as session:
        events = session.exec(
            select(TraceEvent).where(col(TraceEvent.name).startswith("alert "))
        ).all()
    steps = {event.name: (event.status, json.loads(event.detail_json)) for event in events}
    assert steps["alert command"][0] == "ok" and steps["alert http"][0] == "error"
    assert "cannot reach" in steps["alert http"][1]["error"]
    assert all(SECRET_BODY not in event.detail_json for event in events)
    await runtime.aclose()


def test_no_alerts_job_without_a_channel(settings: Settings, secrets: Secrets) -> None:
    settings.alerts = AlertSettings(desktop="off")
    runtime = Runtime(settings, secrets)
    try:
        assert "alerts" not in [job.name for job in runtime.jobs]
    finally:
        runtime.close()


async def test_with_desktop_auto_the_alert_reaches_the_session_bus_notification_server(
    settings: Settings,
    secrets: Secrets,
    clock: FrozenClock,
    session_bus: SessionBus,
    notification_server: NotificationServer,
) -> None:
    settings.alerts = AlertSettings(quiet_hours="")  # desktop = "auto"
    environ = {**secrets.values, **session_bus.environ}
    runtime = Runtime(settings, Secrets(environ), clock)
    try:
        dispatch = runtime.alerts
        assert [channel.name for channel in dispatch.channels.all] == ["desktop"]
        waiting = Waiting(runtime.engine, clock, settings)
        waiting.question("Which room on Friday?")
        await dispatch.tick()
        clock.advance(seconds=60)
        await dispatch.tick()
    finally:
        await runtime.aclose()
    (shown,) = notification_server.notifications
    assert shown.summary == "ambient: 1 question waits for you"
    assert shown.body == "question: Which room on Friday? — from Dana"
