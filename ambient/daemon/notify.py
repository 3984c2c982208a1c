"""The sd_notify protocol, spoken directly: a few datagrams over ``$NOTIFY_SOCKET``.

systemd (``Type=notify``) hands the service a unix datagram socket address in ``NOTIFY_SOCKET``:
a path, or an abstract-namespace name written with a leading ``@``. Each message is newline-
separated ``KEY=VALUE`` assignments (``READY=1``, ``STATUS=…``, ``WATCHDOG=1``, ``STOPPING=1``,
``RELOADING=1``). No libsystemd needed. Outside systemd (no variable) every call is a no-op, so
the daemon uses the same code path under systemd, in a terminal and in tests.

:class:`Watchdog` sends ``WATCHDOG=1`` from the event loop at half of ``WATCHDOG_USEC``, and only
while the loop is healthy: a probe task measures how late its own wake-ups are (loop lag); a
stalled loop sends nothing (the probe cannot run), and a loop that just came back from a long
stall withholds the ping until it is responsive again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, MutableMapping

log = logging.getLogger(__name__)

MAX_STATUS_CHARS = 400


def socket_address(value: str) -> str | bytes:
    """The address to ``sendto``: a path, or ``\\0name`` for an abstract ``@name``."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def one_line(text: str, limit: int = MAX_STATUS_CHARS) -> str:
    """STATUS= must be a single line: newlines would start new assignments."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Notifier:
    """Sends sd_notify messages; does nothing when there is no notify socket."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None
        self._socket: socket.socket | None = None
        self._last_status: str | None = None

    @classmethod
    def from_environment(cls, environ: MutableMapping[str, str], *, unset: bool = True) -> Notifier:
        """Read ``NOTIFY_SOCKET``, and by default unset it so child processes (git…) do not."""
        address = environ.get("NOTIFY_SOCKET")
        if unset:
            environ.pop("NOTIFY_SOCKET", None)
        return cls(address)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send one message; True if it was delivered. Never raises: systemd is optional."""
        if self.address is None:
            return False
        message = "\n".join(assignments).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                self._socket.setblocking(False)
            self._socket.sendto(message, socket_address(self.address))
        except OSError as error:
            log.warning("sd_notify to %s failed: %s", self.address, error)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        parts = ["READY=1"]
        if status is not None:
            parts.append(f"STATUS={one_line(status)}")
            self._last_status = one_line(status)
        return self.send(*parts)

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd ≥ 253 (Type=notify-reload) match the reload to this signal.
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self, status: str = "stopping: draining in-flight work") -> bool:
        self._last_status = one_line(status)
        return self.send("STOPPING=1", f"STATUS={self._last_status}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """STATUS=…, sent only when it changed."""
        line = one_line(text)
        if line == self._last_status:
            return False
        self._last_status = line
        return self.send(f"STATUS={line}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between pings (half of ``WATCHDOG_USEC``), or None if no watchdog is asked for.

    ``WATCHDOG_PID``, when set, names the process the watchdog is meant for.
    """
    usec = environ.get("WATCHDOG_USEC", "").strip()
    if not usec:
        return None
    owner = environ.get("WATCHDOG_PID", "").strip()
    if owner and owner != str(pid if pid is not None else os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number; watchdog pings disabled", usec)
        return None
    return value / 1_000_000 / 2 if value > 0 else None


class Watchdog:
    """WATCHDOG=1 every ``interval`` seconds while the event loop (and ``healthy()``) is fine."""

    def __init__(
        self,
        notifier: Notifier,
        interval: float,
        *,
        healthy: Callable[[], bool] = lambda: True,
        max_lag: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.interval = interval
        self.probe = min(1.0, interval / 4)
        self.max_lag = max_lag if max_lag is not None else max(self.probe * 2, interval / 2)
        self.healthy = healthy
        self.monotonic = monotonic
        self.pings = 0
        self.withheld = 0

    async def run(self) -> None:
        """Run until cancelled."""
        last_ping = self.monotonic()
        self._ping()
        while True:
            expected = self.monotonic() + self.probe
            await asyncio.sleep(self.probe)
            lag = self.monotonic() - expected
            if lag > self.max_lag:
                self.withheld += 1
                log.warning("event loop stalled for %.1fs; watchdog ping withheld", lag)
                continue
            if self.monotonic() - last_ping < self.interval:
                continue
            if self.healthy():
                self._ping()
                last_ping = self.monotonic()
            else:
                self.withheld += 1
                log.warning("daemon unhealthy; watchdog ping withheld")

    def _ping(self) -> None:
        if self.notifier.watchdog():
            self.pings += 1
