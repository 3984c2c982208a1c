"""`ambient alerts test` sends a test alert through every enabled channel and says how each
went; `ambient alerts list` shows the recent alerts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CommandLine
from tests.daemon.alerts.ntfy_receiver import NtfyReceiver, ntfy_receiver  # noqa: F401
from tests.daemon.alerts.test_channels import hook


def configure(cli: CommandLine, home: Path, alerts: str) -> None:
    assert cli.run("init", "--no-samples")[0] == 0
    config = home / "ambient.toml"
    config.write_text(config.read_text() + "\n[alerts]\n" + alerts)


def test_alerts_test_reports_each_channel_and_alerts_list_shows_them(
    cli: CommandLine,
    ambient_home: Path,
    tmp_path: Path,
    ntfy_receiver: NtfyReceiver,  # noqa: F811
) -> None:
    argv = json.dumps(hook(tmp_path, ""))
    configure(
        cli,
        ambient_home,
        f'desktop = "off"\ncommand = {argv}\ncommand_timeout_seconds = 20\n'
        f'[alerts.http]\nurl = "{ntfy_receiver.url}"\n',
    )

    code, report = cli.json("alerts", "test")
    assert code == 0
    assert report == {
        "channels": [
            {"channel": "command", "ok": True, "error": None},
            {"channel": "http", "ok": True, "error": None},
        ]
    }
    stdin = json.loads(json.loads((tmp_path / "received.json").read_text())["stdin"])
    assert stdin["title"] == "ambient: a test alert" and stdin["tags"] == ["test"]
    (published,) = ntfy_receiver.published
    assert published.headers["title"] == "ambient: a test alert"

    ntfy_receiver.status = 503
    code, out = cli.run("alerts", "test")
    assert code == 1
    assert "sent command" in out
    assert f"failed http: 127.0.0.1:{ntfy_receiver.port} answered 503" in out

    code, listed = cli.json("alerts", "list")
    assert code == 0
    rows = [(row["channel"], row["kind"], row["count"], row["ok"]) for row in listed["alerts"]]
    assert rows == [
        ("http", "test", 0, False),
        ("command", "test", 0, True),
        ("http", "test", 0, True),
        ("command", "test", 0, True),
    ]
    assert listed["alerts"][0]["sent_at"] == "2026-11-24T09:00:00+00:00"
    code, out = cli.run("alerts", "list")
    assert code == 0 and "command" in out and "answered 503" in out

    code, status = cli.json("status")
    assert status["alerts"]["channels"] == ["command", "http"]
    assert status["alerts"]["last"]["channel"] == "http"
    code, out = cli.run("status")
    assert "alerts: command, http; last alert: 2026-11-24 09:00:00 UTC via http, 0 waiting" in out


def test_alerts_test_without_a_channel_says_how_to_enable_one(
    cli: CommandLine, ambient_home: Path
) -> None:
    configure(cli, ambient_home, 'desktop = "off"\n')
    code, out = cli.run("alerts", "test")
    assert code == 1 and "no alert channel is enabled" in out
    assert cli.run("alerts", "list") == (0, "no alerts sent yet\n")
