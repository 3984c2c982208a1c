"""The digest email, received by the real SMTP server: at each digest time, once, listing
everything waiting; not again after a restart; none when nothing waits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from ambient.core.alert_settings import AlertSettings
from ambient.core.config import Secrets, Settings
from ambient.core.errors import ConfigError
from ambient.daemon.alerts.channels import build_channels
from ambient.daemon.alerts.dispatcher import AlertDispatcher
from tests.conftest import FrozenClock
from tests.daemon.alerts.waiting import SECRET_BODY, Waiting
from tests.servers.smtp import SmtpServer


def digest_dispatcher(
    settings: Settings, secrets: Secrets, engine: Engine, clock: FrozenClock
) -> AlertDispatcher:
    channels = build_channels(settings, secrets, clock, {})
    assert [channel.name for channel in channels.all] == ["digest"]
    return AlertDispatcher(settings.alerts, engine, clock, channels)


def test_the_digest_goes_at_its_times_to_the_users_own_address_listing_all_that_waits(
    settings: Settings,
    secrets: Secrets,
    engine: Engine,
    clock: FrozenClock,
    smtp_server: SmtpServer,
) -> None:
    settings.smtp = smtp_server.settings(from_address="me@example.com")
    settings.alerts = AlertSettings(digest=["17:30", "08:00"], timezone="UTC", desktop="off")
    clock.current = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    waiting = Waiting(engine, clock, settings)
    for number in range(3):
        waiting.draft(f"Draft {number}")
    waiting.question()
    dispatch = digest_dispatcher(settings, secrets, engine, clock)

    asyncio.run(dispatch.tick())  # 09:00: today's 08:00 digest was before ambient started
    clock.current = datetime(2026, 11, 24, 17, 29, 59, tzinfo=UTC)
    asyncio.run(dispatch.tick())
    assert smtp_server.messages == []

    clock.advance(seconds=1)  # 17:30
    asyncio.run(dispatch.tick())
    (received,) = smtp_server.wait_for(1)
    assert received.recipients == ["me@example.com"] and received.sender == "me@example.com"
    message = received.message
    assert message["Subject"] == "ambient: 3 drafts and 1 question wait for you (digest)"
    assert message["Auto-Submitted"] == "auto-generated"
    lines = received.body.splitlines()
    assert lines[:4] == [
        "draft (reply dana@example.com): Draft 0 — from Dana",
        "draft (reply dana@example.com): Draft 1 — from Dana",
        "draft (reply dana@example.com): Draft 2 — from Dana",
        "question: Which room? — from Dana",
    ]
    assert SECRET_BODY not in received.body

    clock.advance(minutes=20)
    asyncio.run(dispatch.tick())
    restarted = digest_dispatcher(settings, secrets, engine, clock)
    asyncio.run(restarted.tick())
    assert len(smtp_server.messages) == 1  # once per digest time, restart or not

    clock.current = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # the next morning's
    asyncio.run(restarted.tick())
    assert len(smtp_server.wait_for(2)) == 2
    assert [entry.kind for entry in restarted.recent()] == ["digest", "digest"]


def test_no_digest_when_nothing_waits_and_digest_to_overrides_the_address(
    settings: Settings,
    secrets: Secrets,
    engine: Engine,
    clock: FrozenClock,
    smtp_server: SmtpServer,
) -> None:
    settings.smtp = smtp_server.settings()
    settings.alerts = AlertSettings(
        digest=["10:00"], digest_to="phone@example.org", timezone="UTC", desktop="off"
    )
    dispatch = digest_dispatcher(settings, secrets, engine, clock)
    asyncio.run(dispatch.tick())  # 09:00
    clock.advance(hours=1)
    asyncio.run(dispatch.tick())  # 10:00, nothing waits
    assert smtp_server.messages == []

    Waiting(engine, clock, settings).notify("Parcel delivered")
    clock.advance(days=1)
    asyncio.run(dispatch.tick())
    (received,) = smtp_server.wait_for(1)
    assert received.recipients == ["phone@example.org"]
    assert received.body.startswith("to read: Parcel delivered — from Dana\n")


def test_a_digest_without_an_smtp_account_is_a_config_error_naming_the_setting(
    settings: Settings, secrets: Secrets, clock: FrozenClock
) -> None:
    settings.alerts = AlertSettings(digest=["08:00"], desktop="off")
    with pytest.raises(ConfigError, match=r"alerts\.digest: cannot send the digest: no SMTP"):
        build_channels(settings, secrets, clock, {})
