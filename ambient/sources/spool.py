"""The spool folder: any program drops an ``.eml`` or ``.json`` item in, ambient picks it up.

Dropping an item: write it elsewhere (``<spool>/tmp/`` or a dot-file) and rename it into the
spool folder, so ambient never sees half a file. Names starting with ``.`` and ending in
``.tmp``, ``.part`` or ``~`` are ignored; so are folders. The file name is the item's key in
the ledger, so names must be unique over time (e.g. ``20261124T0915-<random>.json``): a name
the ledger already holds is taken as handled.

Once the ledger holds an item, its file moves to ``done/``. A bad file (not an email, invalid
JSON, an unknown extension, too large) moves to ``rejected/`` with ``<name>.error.txt`` beside
it saying why; it is recorded in the ledger as quarantined, with its bytes kept.

JSON items (UTF-8, one object; unknown fields are an error)::

    {
      "kind": "note",                 # "email", or any other kind: "note", "alert", "task"...
      "subject": "Disk almost full",  # required
      "body": "/var is at 93%",       # required, plain text
      "sender": "monitoring@host",    # optional: who or what it is from
      "to": ["me@example.org"],       # optional, kind "email" only
      "message_id": "<id@host>",      # optional, kind "email" only
      "received_at": "2026-11-24T09:15:00Z",  # optional ISO 8601; default: the file's mtime
      "metadata": {"host": "db1"}     # optional: anything, kept with the item
    }

``kind = "email"`` becomes an RFC 5322 message (so it is handled exactly like an ``.eml``);
any other kind is handed on as the validated JSON (``InboundItem.raw``), read back with
:func:`read_spool_item`, with subject and sender in the item's metadata.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ambient.core.clock import Clock, utc
from ambient.core.errors import SourceError
from ambient.core.items import InboundItem
from ambient.core.message import looks_like_email
from ambient.sources.base import KnownKeys

log = logging.getLogger(__name__)

READ_BATCH = 200
MAX_FILE_BYTES = 50 * 1024 * 1024
IGNORED_SUFFIXES = (".tmp", ".part", "~")
SUBFOLDERS = ("tmp", "done", "rejected")


class SpoolItem(BaseModel):
    """A JSON item dropped in the spool folder (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(default="note", pattern=r"^[a-z][a-z0-9_-]{0,49}$")
    subject: str = Field(max_length=2000)
    body: str
    sender: str = Field(default="", max_length=1000)
    to: list[str] = Field(default_factory=list)
    message_id: str | None = Field(default=None, pattern=r"^<[^<>\s]+>$")
    received_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def read_spool_item(raw: bytes) -> SpoolItem:
    """The item behind a non-email spool entry (``InboundItem.raw``); ValueError if invalid."""
    try:
        return SpoolItem.model_validate_json(raw)
    except ValidationError as error:
        raise ValueError(_describe_invalid(error)) from error


def _describe_invalid(error: ValidationError) -> str:
    problems = []
    for detail in error.errors():
        where = ".".join(str(part) for part in detail["loc"]) or "(top level)"
        message = "unknown field" if detail["type"] == "extra_forbidden" else detail["msg"]
        problems.append(f"{where}: {message}")
    return "invalid JSON item: " + "; ".join(problems)


def is_ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith(IGNORED_SUFFIXES)


def _as_email(item: SpoolItem, file_name: str, raw: bytes, mtime: datetime) -> bytes:
    message = EmailMessage()
    message["From"] = item.sender or "spool@ambient.invalid"
    if item.to:
        message["To"] = ", ".join(item.to)
    message["Subject"] = item.subject
    message["Date"] = format_datetime(utc(item.received_at or mtime))
    digest = hashlib.sha256(file_name.encode() + b"\0" + raw).hexdigest()[:32]
    message["Message-ID"] = item.message_id or f"<{digest}@spool.ambient.invalid>"
    message.set_content(item.body)
    return message.as_bytes()


class SpoolSource:
    def __init__(self, name: str, path: Path, clock: Clock | None = None) -> None:
        self.name = name
        self.path = path
        self.clock = clock
        self._rejections: dict[str, str] = {}  # key -> why, for items handed out this poll

    # ---- reading ------------------------------------------------------------------------
    def _prepare(self) -> None:
        try:
            for sub in SUBFOLDERS:
                (self.path / sub).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SourceError(f"spool {self.name}: cannot create {self.path}: {error}") from error

    def _files(self) -> dict[str, Path]:
        try:
            entries = list(os.scandir(self.path))
        except OSError as error:
            raise SourceError(f"spool {self.name}: cannot list {self.path}: {error}") from error
        files: dict[str, tuple[float, Path]] = {}
        for entry in entries:
            if is_ignored(entry.name):
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    files[entry.name] = (entry.stat().st_mtime, Path(entry.path))
            except FileNotFoundError:
                continue
        ordered = sorted(files.items(), key=lambda pair: (pair[1][0], pair[0]))  # oldest first
        return {name: path for name, (_mtime, path) in ordered}

    def read(self, path: Path) -> InboundItem:
        """The item for one file; a bad file gives an item with ``parse_error`` set."""
        name = path.name
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return self._bad(name, b"", f"file too large ({size} bytes; limit {MAX_FILE_BYTES})")
        raw = path.read_bytes()
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        suffix = path.suffix.lower()
        if suffix == ".eml":
            if not looks_like_email(raw):
                why = "empty file" if not raw.strip() else "not an email message (no headers)"
                return self._bad(name, raw, why)
            return InboundItem(source=self.name, key=name, raw=raw, received_at=mtime)
        if suffix == ".json":
            try:
                item = read_spool_item(raw)
            except ValueError as error:
                return self._bad(name, raw, str(error), kind="spool")
            if item.kind == "email":
                email_raw = _as_email(item, name, raw, mtime)
                return InboundItem(
                    source=self.name, key=name, raw=email_raw,
                    received_at=utc(item.received_at or mtime),
                    metadata={"spool_file": name, **item.metadata},
                )  # fmt: skip
            return InboundItem(
                source=self.name, key=name, raw=item.model_dump_json().encode(), kind=item.kind,
                received_at=utc(item.received_at or mtime),
                metadata={"subject": item.subject, "sender": item.sender, "spool_file": name,
                          **item.metadata},
            )  # fmt: skip
        return self._bad(
            name, raw, f"unsupported file type {suffix or '(none)'!r}: use .eml or .json"
        )

    def _bad(self, name: str, raw: bytes, why: str, kind: str = "email") -> InboundItem:
        return InboundItem(source=self.name, key=name, raw=raw, kind=kind, parse_error=why)

    def _poll(self, known: KnownKeys) -> list[InboundItem]:
        self._prepare()
        files = self._files()
        held = known(self.name, list(files))
        for name in held:  # recorded before a restart but not moved yet
            self._settle(name, files[name])
        items: list[InboundItem] = []
        self._rejections = {}
        for name, path in files.items():
            if name in held:
                continue
            try:
                item = self.read(path)
            except FileNotFoundError:
                continue  # taken away between listing and reading
            except OSError as error:
                log.error("spool %s: cannot read %s: %s (will retry)", self.name, name, error)
                continue
            if item.parse_error is not None:
                self._rejections[name] = item.parse_error
            items.append(item)
            if len(items) >= READ_BATCH:
                break
        return items

    async def poll(self, known: KnownKeys) -> list[InboundItem]:
        return await asyncio.to_thread(self._poll, known)

    # ---- moving handled files -----------------------------------------------------------
    def _settle(self, name: str, path: Path) -> None:
        if name not in self._rejections:
            try:
                item = self.read(path)
            except OSError:
                return
            if item.parse_error is not None:
                self._rejections[name] = item.parse_error
        why = self._rejections.pop(name, None)
        if why is None:
            self._move(path, self.path / "done")
            return
        target = self._move(path, self.path / "rejected")
        if target is not None:
            stamp = self.clock.now() if self.clock else datetime.now(UTC)
            error_file = target.with_name(target.name + ".error.txt")
            try:
                error_file.write_text(f"{why}\nrejected at {stamp.isoformat()}\n")
            except OSError as error:
                log.error("spool %s: cannot write %s: %s", self.name, error_file.name, error)
            log.warning("spool %s: rejected %s: %s", self.name, name, why)

    def _move(self, path: Path, folder: Path) -> Path | None:
        target = folder / path.name
        number = 0
        while target.exists():
            number += 1
            target = folder / f"{path.name}.{number}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        except OSError as error:
            log.error("spool %s: cannot move %s to %s/: %s", self.name, path.name, folder, error)
            return None
        return target

    def _acknowledge(self, keys: list[str]) -> None:
        for name in keys:
            path = self.path / name
            if path.exists():
                self._settle(name, path)

    async def acknowledge(self, keys: list[str]) -> None:
        if keys:
            await asyncio.to_thread(self._acknowledge, keys)

    async def close(self) -> None:
        return None
