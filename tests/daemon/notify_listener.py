"""A real sd_notify receiver for tests: a unix datagram socket, read by a background thread."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.daemon.process import wait_until  # noqa: F401  (re-exported for the tests)


@dataclass(frozen=True)
class Notification:
    at: float  # time.monotonic() when received
    fields: dict[str, str]
    raw: str


class NotifyListener:
    """Binds ``@ambient-test-…`` (abstract) or a short filesystem path and records every message."""

    def __init__(self, *, abstract: bool = True) -> None:
        self._directory: str | None = None
        if abstract:
            self.address = f"@ambient-test-{uuid.uuid4().hex}"
            bind_to: str | bytes = b"\0" + self.address[1:].encode()
        else:
            # unix socket paths are limited to ~108 bytes: pytest's tmp_path can be longer
            self._directory = tempfile.mkdtemp(prefix="ambient-notify-", dir="/tmp")
            self.address = str(Path(self._directory) / "notify.sock")
            bind_to = self.address
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(bind_to)
        self.socket.settimeout(0.05)
        self.messages: list[Notification] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            text = data.decode()
            fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
            with self._lock:
                self.messages.append(Notification(time.monotonic(), fields, text))

    def snapshot(self) -> list[Notification]:
        with self._lock:
            return list(self.messages)

    def with_field(self, name: str, value: str | None = None) -> list[Notification]:
        return [
            message
            for message in self.snapshot()
            if name in message.fields and (value is None or message.fields[name] == value)
        ]

    def wait_for(
        self, condition: Callable[[list[Notification]], bool], timeout: float = 15.0
    ) -> list[Notification]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.snapshot()
            if condition(messages):
                return messages
            time.sleep(0.01)
        raise AssertionError(f"no matching notification within {timeout}s: {self.snapshot()!r}")

    async def wait_for_async(
        self, condition: Callable[[list[Notification]], bool], timeout: float = 15.0
    ) -> list[Notification]:
        """As wait_for, yielding to the event loop (the code under test runs there)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.snapshot()
            if condition(messages):
                return messages
            await asyncio.sleep(0.01)
        raise AssertionError(f"no matching notification within {timeout}s: {self.snapshot()!r}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.socket.close()
        if self._directory is not None:
            os.unlink(self.address)
            os.rmdir(self._directory)
