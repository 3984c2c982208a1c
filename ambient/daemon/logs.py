"""Logging for the daemon: one line per record on stderr, which journald keeps as is.

Text records read ``LEVEL component: message item=… trace=…``; under journald (``JOURNAL_STREAM``
names our stderr) each line starts with the ``<N>`` syslog priority prefix so ``journalctl -p``
filters by level, and the timestamp is left to the journal. ``--log-format json`` writes one JSON
object per line with stable keys: ``ts``, ``level``, ``component``, ``message``, ``item_id``,
``trace_id`` (and ``exception``).

Item and trace ids come from, in order: ``extra={"item_id": …, "trace_id": …}``, the ids bound
with :func:`log_context` (a context variable, so it follows tasks and ``asyncio.to_thread``), and
the house ``item=… trace=…`` words in the message itself.

A filter on the handler redacts secrets from every record, whichever logger wrote it: the
values of the secret variables whose names say so (passwords, keys, tokens: see
``ambient.core.config.is_secret_name``; never paths such as ``PWD``), the ones the config names
(``password_env``, passed in as ``redact``) and the password of a database URL.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from ambient.core.config import Secrets, is_secret_name
from ambient.core.errors import ConfigError

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")
MIN_SECRET_CHARS = 4  # shorter values would redact ordinary words
REDACTED = "[redacted]"
# Chatty third-party loggers stay at WARNING unless the daemon runs at DEBUG.
QUIET_LOGGERS = ("apscheduler", "httpx", "httpcore", "alembic", "openai", "anthropic", "urllib3")
# syslog priorities for the journald line prefix (sd-daemon.h)
PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}
_IDS_IN_TEXT = re.compile(r"\b(item|trace)=([\w.:/-]+)")

_context: ContextVar[dict[str, str]] = ContextVar("ambient_log_context", default={})  # noqa: B039


@contextmanager
def log_context(*, item_id: object = None, trace_id: object = None) -> Iterator[None]:
    """Bind ids to every record logged inside (this task and the threads it starts)."""
    bound = dict(_context.get())
    if item_id is not None:
        bound["item_id"] = str(item_id)
    if trace_id is not None:
        bound["trace_id"] = str(trace_id)
    token = _context.set(bound)
    try:
        yield
    finally:
        _context.reset(token)


def secret_values(secrets: Secrets, extra: Iterable[str | None] = ()) -> list[str]:
    """The values to redact: secrets whose variable names look secret, plus ``extra``."""
    values = {
        value
        for name, value in secrets.values.items()
        if value and len(value) >= MIN_SECRET_CHARS and is_secret_name(name)
    }
    values.update(value for value in extra if value and len(value) >= MIN_SECRET_CHARS)
    return sorted(values, key=len, reverse=True)  # longest first: no partial leftovers


def database_password(url: str | None) -> str | None:
    if not url:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password
    except ArgumentError:
        return None


class RedactingFilter(logging.Filter):
    """Replaces secret values in the message, the arguments, the traceback and string extras."""

    def __init__(self, values: Iterable[str]) -> None:
        super().__init__()
        plain = [value for value in values if value]
        escaped = [json.dumps(value)[1:-1] for value in plain]  # as a JSON line spells it
        self.values = sorted({*plain, *escaped}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.values:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not break the log call
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for name in ("item_id", "trace_id"):
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, self.redact(value))
        return True


def record_ids(record: logging.LogRecord) -> dict[str, str]:
    """item_id / trace_id for a record: extras, then the bound context, then the message."""
    ids: dict[str, str] = {}
    for name in ("item_id", "trace_id"):
        value = getattr(record, name, None)
        if value is not None:
            ids[name] = str(value)
    for name, value in _context.get().items():
        ids.setdefault(name, value)
    for word, value in _IDS_IN_TEXT.findall(record.getMessage()):
        ids.setdefault(f"{word}_id", value)
    return ids


def component(record: logging.LogRecord) -> str:
    name = record.name
    return name.removeprefix("ambient.") if name.startswith("ambient.") else name


class TextFormatter(logging.Formatter):
    def __init__(self, *, journald: bool) -> None:
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line = f"{record.levelname} {component(record)}: {message}"
        ids = record_ids(record)
        for name, word in (("item_id", "item"), ("trace_id", "trace")):
            if name in ids and f"{word}=" not in message:
                line += f" {word}={ids[name]}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            # a traceback stays one journal entry: its lines are joined, not emitted one by one
            line += " | " + " | ".join(record.exc_text.splitlines())
        line = " ".join(line.split("\n"))
        if self.journald:
            return f"<{PRIORITY.get(record.levelname, 6)}>{line}"
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        return f"{stamp} {line}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "component": component(record),
            "message": record.getMessage(),
        }
        entry.update(record_ids(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def stderr_is_journal(environ: Mapping[str, str], stream: TextIO) -> bool:
    """True when systemd connected our stderr to the journal (``JOURNAL_STREAM=dev:inode``)."""
    value = environ.get("JOURNAL_STREAM", "")
    if ":" not in value:
        return False
    try:
        stat = os.fstat(stream.fileno())
        device, inode = (int(part) for part in value.split(":", 1))
    except (OSError, ValueError, AttributeError):
        return False
    return (stat.st_dev, stat.st_ino) == (device, inode)


def check_level(level: str) -> str:
    name = level.strip().upper()
    if name not in LEVELS:
        raise ConfigError(f"log level: expected one of {', '.join(LEVELS)}, got {level!r}")
    return name


def check_format(log_format: str) -> str:
    name = log_format.strip().lower()
    if name not in FORMATS:
        raise ConfigError(f"log format: expected one of {', '.join(FORMATS)}, got {log_format!r}")
    return name


_HANDLER_NAME = "ambient-stderr"


class RedactingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Redacts the finished line too: ids bound by log_context are added while formatting."""

    def __init__(self, stream: TextIO, redactor: RedactingFilter) -> None:
        super().__init__(stream)
        self.redactor = redactor
        self.addFilter(redactor)

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.redact(super().format(record))


def configure_logging(
    level: str = "INFO",
    log_format: str = "text",
    *,
    secrets: Secrets | None = None,
    redact: Iterable[str | None] = (),
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Install (or replace) the one stderr handler on the root logger; safe to call again."""
    level = check_level(level)
    log_format = check_format(log_format)
    stream = stream or sys.stderr
    environ = os.environ if environ is None else environ
    redactor = RedactingFilter(secret_values(secrets or Secrets({}), redact))
    handler = RedactingStreamHandler(stream, redactor)
    handler.set_name(_HANDLER_NAME)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(journald=stderr_is_journal(environ, stream)))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
            existing.close()
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    # imapclient's DEBUG lines carry the start of message text: never log it, at any level.
    logging.getLogger("imapclient").setLevel(logging.INFO if level == "DEBUG" else logging.WARNING)
    logging.captureWarnings(True)
    return handler
