"""A local Maildir as a source, read with the stdlib `mailbox`.

In the inbox ambient owns (the default), a handled message moves from new/ to cur/ once the
ledger holds it. In a Maildir the user points ambient at (their own mail), nothing is changed:
ambient does not touch the user's read state.
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import os
import socket
import time
import uuid
from pathlib import Path

from ambient.core.errors import SourceError
from ambient.core.items import InboundItem
from ambient.sources.base import KnownKeys

log = logging.getLogger(__name__)

READ_BATCH = 500


def maildir_key(file_name: str) -> str:
    """The unique part of a Maildir file name (the info after ':' changes with flags)."""
    return file_name.split(":", 1)[0]


def deliver(maildir: Path, raw: bytes) -> str:
    """Deliver bytes unchanged into new/ (write tmp/, fsync, rename); returns the key."""
    mailbox.Maildir(maildir, create=True).close()
    key = f"{time.time_ns()}.P{os.getpid()}Q{uuid.uuid4().hex[:12]}.{socket.gethostname()}"
    temporary = maildir / "tmp" / key
    with temporary.open("xb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temporary, maildir / "new" / key)
    return key


class MaildirSource:
    def __init__(self, name: str, path: Path, *, owned: bool) -> None:
        self.name = name
        self.path = path
        self.owned = owned

    def _files(self) -> dict[str, Path]:
        subdirs = ["new"] if self.owned else ["new", "cur"]
        files: dict[str, Path] = {}
        for subdir in subdirs:
            folder = self.path / subdir
            try:
                names = os.listdir(folder)
            except FileNotFoundError as error:
                raise SourceError(f"maildir {self.name}: {folder} does not exist") from error
            except OSError as error:
                raise SourceError(f"maildir {self.name}: cannot list {folder}: {error}") from error
            for file_name in names:
                if not file_name.startswith("."):
                    files[maildir_key(file_name)] = folder / file_name
        return files

    def _read(self, key: str, path: Path) -> InboundItem | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None  # moved or deleted between listing and reading; next poll sees it
        except OSError as error:
            log.error("maildir %s: cannot read %s: %s (will retry)", self.name, path.name, error)
            return None
        problem = "empty file" if not raw.strip() else None
        return InboundItem(source=self.name, key=key, raw=raw, parse_error=problem)

    def _poll(self, known: KnownKeys) -> list[InboundItem]:
        files = self._files()
        fresh = sorted(set(files) - known(self.name, list(files)))
        if self.owned:
            # Already in the ledger but still in new/: the daemon stopped before acknowledging.
            self._move_to_cur([key for key in files if key not in fresh], files)
        items = []
        for key in fresh[:READ_BATCH]:
            item = self._read(key, files[key])
            if item is not None:
                items.append(item)
        return items

    async def poll(self, known: KnownKeys) -> list[InboundItem]:
        return await asyncio.to_thread(self._poll, known)

    def _move_to_cur(self, keys: list[str], files: dict[str, Path]) -> None:
        for key in keys:
            source = files.get(key)
            if source is None or source.parent.name != "new":
                continue
            target = self.path / "cur" / f"{source.name}:2,"
            try:
                os.rename(source, target)
            except FileNotFoundError:
                continue
            except OSError as error:
                log.error("maildir %s: cannot move %s to cur/: %s", self.name, key, error)

    async def acknowledge(self, keys: list[str]) -> None:
        if not self.owned or not keys:
            return
        wanted = set(keys)

        def move() -> None:
            new_dir = self.path / "new"
            try:
                names = os.listdir(new_dir)
            except OSError as error:
                log.error("maildir %s: cannot list %s: %s", self.name, new_dir, error)
                return
            files = {maildir_key(n): new_dir / n for n in names if maildir_key(n) in wanted}
            self._move_to_cur(list(files), files)

        await asyncio.to_thread(move)

    async def close(self) -> None:
        return None
