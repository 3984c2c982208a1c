"""IMAP IDLE: one thread and one connection per watched mailbox, calling back on new mail.

The thread logs in, selects the mailbox read-only, and sits in IDLE. An ``EXISTS`` response
means new mail: it calls ``notify`` (the source turns that into a poll). IDLE is ended and
restarted every ``idle_renew_seconds``, before servers drop idle clients (RFC 2177: 29 min).
A dropped connection (``BYE``, EOF, a network error) is retried with exponential backoff and
jitter; after every (re)connect ``notify`` is called too, to catch up on what arrived meanwhile.
``stop`` wakes the thread at once by shutting its socket down.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from imapclient import IMAPClient

from ambient.core.config import ImapSourceSettings
from ambient.core.errors import SourceError
from ambient.mail.imap_connection import (
    IMAP_ERRORS,
    ConnectionLost,
    connect,
    describe_failure,
    disconnect,
    interrupt,
)

log = logging.getLogger(__name__)

RECONNECT_INITIAL_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 300.0
CHECK_MAX_SECONDS = 60.0  # a safety net: stop() normally wakes the thread at once


class IdleWatcher:
    def __init__(
        self,
        settings: ImapSourceSettings,
        password: str | None,
        mailbox: str,
        notify: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.password = password
        self.mailbox = mailbox
        self.notify = notify
        self.connects = 0
        self.renewals = 0
        self.failures = 0
        self.supported = True
        self.last_error: str | None = None
        self.finished = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._client: IMAPClient | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"imap-idle:{settings.name}:{mailbox}", daemon=True
        )

    @property
    def label(self) -> str:
        return f"imap {self.settings.name}/{self.mailbox}"

    @property
    def running(self) -> bool:
        return not self.finished

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            interrupt(self._client)

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    # ---- the thread ---------------------------------------------------------------------
    def _run(self) -> None:
        delay = RECONNECT_INITIAL_SECONDS
        try:
            while not self._stop.is_set():
                if self._session():
                    delay = RECONNECT_INITIAL_SECONDS
                if self._stop.is_set() or not self.supported:
                    break
                self._stop.wait(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
        finally:
            self.finished = True
            self.notify()  # lets the source see that this watcher ended

    def _session(self) -> bool:
        """One connection's life; True if it got as far as IDLE (resets the backoff)."""
        client: IMAPClient | None = None
        idling = False
        try:
            client = connect(self.settings, self.password)
            with self._lock:
                self._client = client
            if self._stop.is_set():
                return False
            if not client.has_capability("IDLE"):
                log.info("%s: the server has no IDLE; polling only", self.label)
                self.supported = False
                return False
            client.select_folder(self.mailbox, readonly=True)
            self.connects += 1
            self.last_error = None
            log.info("%s: IDLE connected (connection %d)", self.label, self.connects)
            self.notify()  # mail may have arrived while we were not listening
            idling = True
            self._idle(client)
        except SourceError as error:
            self._failed(str(error))
        except IMAP_ERRORS as error:
            if not self._stop.is_set():
                self._failed(describe_failure(self.settings, error))
        except Exception as error:  # noqa: BLE001 - this thread must outlive any one failure
            if not self._stop.is_set():  # (when stopping, the socket was torn down under us)
                log.exception("%s: unexpected error in IDLE", self.label)
                self._failed(f"{type(error).__name__}: {error}")
        finally:
            with self._lock:
                self._client = None
            if self._stop.is_set():
                interrupt(client)
            else:
                disconnect(client)
        return idling

    def _failed(self, message: str) -> None:
        self.failures += 1
        self.last_error = message
        log.warning("%s: IDLE connection failed, retrying with backoff: %s", self.label, message)

    def _idle(self, client: IMAPClient) -> None:
        renew = self.settings.idle_renew_seconds
        client.idle()
        started = time.monotonic()
        while not self._stop.is_set():
            remaining = renew - (time.monotonic() - started)
            if remaining <= 0:
                self._restart_idle(client)
                started = time.monotonic()
                continue
            wait = min(remaining, CHECK_MAX_SECONDS)
            asked = time.monotonic()
            responses = client.idle_check(timeout=wait)
            if self._stop.is_set():
                return
            if responses:
                self._inspect(responses)
            elif time.monotonic() - asked < wait / 2:
                # readable but nothing came: the server closed the connection (idle_check
                # swallows EOF). Ending IDLE raises if so; if not, IDLE simply starts again.
                self._restart_idle(client)
                started = time.monotonic()

    def _restart_idle(self, client: IMAPClient) -> None:
        _text, responses = client.idle_done()
        self._inspect(responses)
        self.renewals += 1
        client.idle()

    def _inspect(self, responses: list[Any]) -> None:
        arrived = False
        for response in responses:
            if not isinstance(response, tuple) or len(response) < 2:
                continue
            if response[0] == b"BYE":
                said = b" ".join(part for part in response[1:] if isinstance(part, bytes))
                raise ConnectionLost(f"server said BYE: {said.decode('utf-8', 'replace')}")
            if response[1] == b"EXISTS":
                arrived = True
        if arrived:
            log.debug("%s: new mail announced", self.label)
            self.notify()
