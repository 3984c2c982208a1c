"""Daemon logging: one line per record, item and trace ids, JSON, and no secret in any line."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ambient.core.config import Secrets, load_settings
from ambient.core.errors import ConfigError
from ambient.daemon.logs import configure_logging, log_context, secret_values
from ambient.daemon.runner import LoggingOptions

log = logging.getLogger("ambient.daemon.worker")


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


SECRETS = Secrets(
    {
        "WORK_IMAP_PW": "hunter2-imap",
        "OPENAI_API_KEY": "sk-test-0123456789",
        "LANGFUSE_SECRET_KEY": "lf-secret-abc",
        "SMTP_PASSWORD": "mail-pass-xyz",
        "PWD": "/home/someone",
        "SSH_AUTH_SOCK": "/run/user/1000/ssh",
        "SHORT_TOKEN": "abc",
        "EDITOR": "vim",
    }
)


def capture(level: str = "INFO", log_format: str = "text", **options: object) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level, log_format, stream=stream, environ={}, **options)  # type: ignore[arg-type]
    return stream


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_records_are_one_line_with_level_component_and_ids() -> None:
    stream = capture()
    log.info("item=%s trace=%s -> %s", 7, "ab" * 16, "done")
    with log_context(item_id=8, trace_id="cd" * 16):
        logging.getLogger("httpx").warning("request\nfailed")
    (first, second) = lines(stream)
    assert first.endswith(f"INFO daemon.worker: item=7 trace={'ab' * 16} -> done")
    assert second.endswith(f"WARNING httpx: request failed item=8 trace={'cd' * 16}")


def test_a_traceback_stays_in_the_same_line() -> None:
    stream = capture()
    try:
        raise ValueError("bad header")
    except ValueError:
        log.exception("item=3 processing failed")
    (line,) = lines(stream)
    assert "item=3 processing failed | Traceback (most recent call last):" in line
    assert "ValueError: bad header" in line


def test_json_records_have_stable_keys_and_the_ids() -> None:
    stream = capture(log_format="json")
    log.info("item=%s trace=%s -> done", 12, "ef" * 16)
    with log_context(item_id=13):
        logging.getLogger("ambient.agent").error("model refused")
    first, second = (json.loads(line) for line in lines(stream))
    assert set(first) == {"ts", "level", "component", "message", "item_id", "trace_id"}
    assert first["level"] == "INFO"
    assert first["component"] == "daemon.worker"
    assert (first["item_id"], first["trace_id"]) == ("12", "ef" * 16)
    assert second["item_id"] == "13" and second["component"] == "agent"


def test_log_level_filters_and_quiets_chatty_libraries() -> None:
    stream = capture(level="WARNING")
    log.info("hidden")
    log.warning("shown")
    assert [line.split(" ", 1)[1] for line in lines(stream)] == ["WARNING daemon.worker: shown"]
    stream = capture(level="INFO")
    logging.getLogger("apscheduler.executors.default").info("Running job")
    assert lines(stream) == []


def test_bad_level_or_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="log level: expected one of DEBUG"):
        capture(level="LOUD")
    with pytest.raises(ConfigError, match="log format: expected one of text, json"):
        capture(log_format="xml")


def test_secrets_never_reach_a_log_line_in_message_args_or_traceback() -> None:
    stream = capture(secrets=SECRETS, redact=["db-password-42"])
    log.info("login with %s failed", "hunter2-imap")
    log.warning("key sk-test-0123456789 rejected; smtp mail-pass-xyz")
    try:
        raise RuntimeError("auth failed for lf-secret-abc on postgresql://u:db-password-42@h/db")
    except RuntimeError:
        log.exception("tracing export failed")
    with log_context(item_id="hunter2-imap"):
        log.info("bound id")
    text = stream.getvalue()
    for secret in ("hunter2-imap", "sk-test-0123456789", "lf-secret-abc", "mail-pass-xyz"):
        assert secret not in text
    assert "db-password-42" not in text
    assert text.count("[redacted]") >= 6
    assert "login with [redacted] failed" in text


def test_json_output_is_redacted_too() -> None:
    stream = capture(log_format="json", secrets=SECRETS)
    log.error("token sk-test-0123456789 expired")
    (entry,) = (json.loads(line) for line in lines(stream))
    assert entry["message"] == "token [redacted] expired"


def test_only_secret_looking_names_are_redacted() -> None:
    values = secret_values(SECRETS)
    assert "hunter2-imap" in values and "sk-test-0123456789" in values
    # the working directory, a socket path, a 3-char value and an editor are not secrets
    assert "/home/someone" not in values
    assert "/run/user/1000/ssh" not in values
    assert "abc" not in values and "vim" not in values


def test_journald_lines_carry_the_syslog_priority(tmp_path: object) -> None:
    stream = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        status = os.fstat(stream.fileno())
        environ = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
        handler = configure_logging("INFO", "text", stream=stream, environ=environ)
        formatter = handler.formatter
        assert formatter is not None
        record = logging.LogRecord("ambient.daemon", logging.ERROR, "x", 1, "boom", None, None)
        assert formatter.format(record) == "<3>ERROR daemon: boom"
        record = logging.LogRecord("ambient.daemon", logging.INFO, "x", 1, "fine", None, None)
        assert formatter.format(record) == "<6>INFO daemon: fine"
    finally:
        stream.close()


def test_the_daemon_redacts_configured_passwords_but_never_paths(
    ambient_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ambient_home / "ambient.toml").write_text(
        '[[sources]]\ntype = "imap"\nname = "work"\nhost = "imap.example"\n'
        'username = "me"\npassword_env = "WORK_IMAP"\n'
    )
    monkeypatch.setenv("WORK_IMAP", "imap-login-789")
    monkeypatch.setenv("PWD", str(ambient_home))
    monkeypatch.setenv("OLDPWD", str(ambient_home.parent))
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    settings, secrets = load_settings()
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    LoggingOptions(level=None, log_format=None, environ={}).apply(settings, secrets)

    log.warning("login imap-login-789 refused; add [smtp] to %s", settings.config_file)
    log.info("spool in %s; run dir /run/user/1000/ambient", ambient_home.parent)

    text = stream.getvalue()
    assert "imap-login-789" not in text and "login [redacted] refused" in text
    assert f"add [smtp] to {ambient_home.resolve()}/ambient.toml" in text
    assert f"spool in {ambient_home.parent};" in text and "/run/user/1000/ambient" in text
