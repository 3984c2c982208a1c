"""The command hook and the ntfy-compatible POST, for real: a script written here that records
its stdin and environment, a loopback HTTP server; and how each reports a failure."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path

import pytest

from ambient.daemon.alerts.channel import Alert, AlertChannelError
from ambient.daemon.alerts.command import CommandChannel
from ambient.daemon.alerts.http import HttpChannel
from tests.daemon.alerts.ntfy_receiver import NtfyReceiver, ntfy_receiver  # noqa: F401
from tests.servers.ports import free_port

ALERT = Alert(
    title="ambient: 2 drafts and 1 question wait for you",
    lines=("draft (reply ann@example.com): Lunch — from Ann", "and 2 more"),
    count=3,
    approval_ids=(4, 5, 6),
    tags=("draft", "question"),
)


def hook(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "hook.py"
    script.write_text(
        "import json, os, sys\n"
        f"record = {str(tmp_path / 'received.json')!r}\n"
        "stdin = sys.stdin.read()\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('AMBIENT_ALERT_')}\n"
        "open(record, 'w').write(json.dumps({'stdin': stdin, 'env': env}))\n" + body
    )
    return [sys.executable, str(script)]


def test_the_command_hook_gets_the_alert_as_json_on_stdin_and_in_its_environment(
    tmp_path: Path,
) -> None:
    asyncio.run(CommandChannel(hook(tmp_path, ""), timeout_seconds=20).send(ALERT))

    received = json.loads((tmp_path / "received.json").read_text())
    assert json.loads(received["stdin"]) == {
        "title": ALERT.title,
        "body": "draft (reply ann@example.com): Lunch — from Ann\nand 2 more",
        "lines": list(ALERT.lines),
        "urgency": "normal",
        "count": 3,
        "approval_ids": [4, 5, 6],
        "item_ids": [],
        "tags": ["draft", "question"],
    }
    assert received["env"] == {
        "AMBIENT_ALERT_TITLE": ALERT.title,
        "AMBIENT_ALERT_BODY": ALERT.body,
        "AMBIENT_ALERT_COUNT": "3",
    }


def test_a_hook_that_exits_non_zero_fails_with_the_end_of_its_stderr(tmp_path: Path) -> None:
    argv = hook(tmp_path, "sys.stderr.write('x' * 1000 + 'no route to the pager')\nsys.exit(3)\n")
    with pytest.raises(AlertChannelError) as failure:
        asyncio.run(CommandChannel(argv, timeout_seconds=20).send(ALERT))
    message = str(failure.value)
    assert message.startswith(f"command: {sys.executable} exited with 3: xxx")
    assert message.endswith("no route to the pager") and len(message) < 400


def test_a_hook_that_does_not_finish_is_killed_at_its_timeout(tmp_path: Path) -> None:
    argv = hook(tmp_path, "import threading\nthreading.Event().wait()\n")
    with pytest.raises(AlertChannelError, match=r"did not finish within 0\.5 s \(killed\)"):
        asyncio.run(CommandChannel(argv, timeout_seconds=0.5).send(ALERT))


def test_a_missing_hook_program_is_a_failure_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-hook")
    with pytest.raises(AlertChannelError, match=r"command: cannot run .*no-such-hook"):
        asyncio.run(CommandChannel([missing]).send(ALERT))


def test_the_http_post_carries_ntfys_headers_the_text_and_the_bearer_token(
    ntfy_receiver: NtfyReceiver,  # noqa: F811
) -> None:
    channel = HttpChannel(ntfy_receiver.url, token="tk_secret-42", priority="high")
    asyncio.run(channel.send(ALERT))
    asyncio.run(channel.send(Alert(title="ambient: grüße", lines=("ü",), urgency="low")))

    first, second = ntfy_receiver.published
    assert first.path == "/ambient-alerts"
    assert first.text == ALERT.body
    assert first.headers["title"] == ALERT.title
    assert first.headers["priority"] == "high"
    assert first.headers["tags"] == "ambient,draft,question"
    assert first.headers["authorization"] == "Bearer tk_secret-42"
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    assert second.headers["title"] == "=?utf-8?b?YW1iaWVudDogZ3LDvMOfZQ==?="  # RFC 2047
    assert second.headers["priority"] == "low" and second.text == "ü"
    assert "tk_secret-42" not in repr(channel)


def test_without_a_token_no_authorization_header_is_sent(
    ntfy_receiver: NtfyReceiver,  # noqa: F811
) -> None:
    asyncio.run(HttpChannel(ntfy_receiver.url).send(ALERT))
    (published,) = ntfy_receiver.published
    assert "authorization" not in published.headers
    assert published.headers["priority"] == "default"


def test_an_http_error_answer_fails_naming_the_host_never_the_topic_or_token(
    ntfy_receiver: NtfyReceiver,  # noqa: F811
) -> None:
    ntfy_receiver.status = 500
    with pytest.raises(AlertChannelError) as failure:
        asyncio.run(HttpChannel(ntfy_receiver.url, token="tk_secret-42").send(ALERT))
    message = str(failure.value)
    host = f"127.0.0.1:{ntfy_receiver.port}"
    assert (
        message == f'http: {host} answered 500 Internal Server Error: {{"error":"topic is broken"}}'
    )
    assert "ambient-alerts" not in message and "tk_secret-42" not in message


def test_an_http_receiver_that_does_not_answer_times_out(
    ntfy_receiver: NtfyReceiver,  # noqa: F811
) -> None:
    ntfy_receiver.hang = threading.Event()
    channel = HttpChannel(ntfy_receiver.url, timeout_seconds=0.3)
    with pytest.raises(AlertChannelError, match=r"did not answer within 0\.3 s"):
        asyncio.run(channel.send(ALERT))


def test_a_refused_connection_fails_naming_the_host() -> None:
    port = free_port()  # nothing listens there
    channel = HttpChannel(f"http://127.0.0.1:{port}/secret-topic")
    with pytest.raises(AlertChannelError) as failure:
        asyncio.run(channel.send(ALERT))
    assert str(failure.value).startswith(f"http: cannot reach 127.0.0.1:{port}: ")
    assert "secret-topic" not in str(failure.value)
