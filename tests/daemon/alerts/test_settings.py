"""`[alerts]` in ambient.toml: the defaults, and a bad setting as a ConfigError naming it."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from ambient.core.config import load_settings
from ambient.core.errors import ConfigError
from ambient.daemon.alerts.channels import build_channels
from tests.conftest import FrozenClock


def configure(home: Path, text: str) -> None:
    (home / "ambient.toml").write_text(text)


def test_alerts_are_on_by_default_for_drafts_questions_and_notify_items(
    ambient_home: Path,
) -> None:
    alerts = load_settings()[0].alerts
    assert alerts.enabled and alerts.on == ["drafts", "questions", "notify"]
    assert (alerts.batch_seconds, alerts.min_interval_seconds, alerts.max_lines) == (60, 300, 10)
    assert alerts.quiet_hours == "22:00-07:00" and alerts.timezone is None
    assert alerts.include_body is False and alerts.desktop == "auto"
    assert alerts.command == [] and alerts.http is None and alerts.digest == []


def test_a_full_alerts_section_is_read(ambient_home: Path) -> None:
    configure(
        ambient_home,
        '[alerts]\non = ["questions"]\nquiet_hours = ""\ntimezone = "Europe/Berlin"\n'
        'command = ["my-hook", "--quiet"]\ndigest = ["17:30", "08:00"]\n'
        '[alerts.http]\nurl = "https://ntfy.example/ambient"\ntoken_from = "NTFY_TOKEN"\n',
    )
    alerts = load_settings()[0].alerts
    assert alerts.quiet_window is None
    assert alerts.digest_times == [time(8, 0), time(17, 30)]
    assert alerts.http is not None and alerts.http.token_from == "NTFY_TOKEN"


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ('quiet_hours = "22-07"', "alerts.quiet_hours", "expected a time of day as HH:MM"),
        ('quiet_hours = "07:00-07:00"', "alerts.quiet_hours", "starts and ends at the same"),
        ('digest = ["8am"]', "alerts.digest", "expected a time of day as HH:MM"),
        ('timezone = "Mars/Olympus"', "alerts.timezone", "unknown time zone"),
        ('on = ["drafts", "spam"]', "alerts.on[1]", "Input should be"),
        ("batch_seconds = -1", "alerts.batch_seconds", "greater than or equal to 0"),
        ('desktop = "maybe"', "alerts.desktop", "Input should be"),
        ('http = { url = "ntfy.sh/topic" }', "alerts.http.url", "should match pattern"),
        ('command = [""]', "alerts.command", "the program) is empty"),
        ("bodies = true", "alerts.bodies", "unknown setting"),
    ],
)
def test_a_bad_alert_setting_is_a_config_error_naming_the_field(
    ambient_home: Path, line: str, field: str, reason: str
) -> None:
    configure(ambient_home, f"[alerts]\n{line}\n")
    with pytest.raises(ConfigError) as failure:
        load_settings()
    message = str(failure.value)
    assert f"ambient.toml: {field}: " in message and reason in message


def test_a_token_variable_that_is_not_set_is_a_config_error_naming_it(
    ambient_home: Path, clock: FrozenClock
) -> None:
    configure(
        ambient_home,
        '[alerts]\ndesktop = "off"\n[alerts.http]\nurl = "https://ntfy.example/a"\n'
        'token_from = "NTFY_TOKEN"\n',
    )
    settings, secrets = load_settings({"AMBIENT_HOME": str(ambient_home)})
    with pytest.raises(ConfigError, match=r"alerts\.http\.token_from: the variable NTFY_TOKEN"):
        build_channels(settings, secrets, clock, {})
    settings, secrets = load_settings({"AMBIENT_HOME": str(ambient_home), "NTFY_TOKEN": "t"})
    assert [channel.name for channel in build_channels(settings, secrets, clock, {}).all] == [
        "http"
    ]


def test_the_desktop_channel_is_on_in_auto_only_when_a_session_bus_is_there(
    ambient_home: Path, clock: FrozenClock, tmp_path: Path
) -> None:
    settings, secrets = load_settings()
    assert build_channels(settings, secrets, clock, {}).all == []
    missing = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"}
    assert build_channels(settings, secrets, clock, missing).all == []
    settings.alerts.desktop = "on"
    assert [channel.name for channel in build_channels(settings, secrets, clock, {}).all] == [
        "desktop"
    ]
