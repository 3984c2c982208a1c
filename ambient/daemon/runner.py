"""The daemon as a process: signals, systemd readiness and watchdog, reload, a clean exit.

:func:`run_daemon` is what ``ambient run`` calls (through ``ambient.runtime.Runtime.serve``):
the runtime above this layer builds the daemon and its parts (:class:`DaemonRuntime`).

- Start: open the database (migrations), take back the leases of a dead process on this host
  (:func:`reclaim_dead_leases`), build the daemon, start the scheduler. ``READY=1`` once
  the scheduler runs and every source has finished its first poll (bounded by
  :data:`READY_TIMEOUT_SECONDS`, so a source that hangs cannot hold the start forever).
- ``STATUS=``: the heartbeat's one-line summary plus the time of the last poll.
- ``WATCHDOG=1``: from the event loop, at half of ``WATCHDOG_USEC``, only while it is healthy
  (see :class:`ambient.daemon.notify.Watchdog`).
- SIGTERM / SIGINT: ``STOPPING=1``; stop taking work; in-flight items finish within
  ``worker.drain_seconds`` (the rest are released to the queue); everything is closed (the
  trace spool is flushed by the runtime's ``close_tracing``); exit 0. A second signal while
  stopping is ignored: the unit's ``TimeoutStopSec=`` is the hard limit.
- SIGHUP: ``RELOADING=1``; configuration and memory are re-read and applied live, from a new
  runtime of the new configuration (see :mod:`ambient.daemon.reload`); ``READY=1``. A
  configuration that does not load is logged with its error, and the running one is kept.

Test hooks, read only when set in the environment (documented here, used by
``tests/daemon/test_daemon_process.py``): ``AMBIENT_DEBUG_STALL_SECONDS=N`` makes SIGUSR1 block
the event loop for N seconds (a stand-in for a call that hangs the loop), so the watchdog pings
can be seen to stop; ``AMBIENT_DEBUG_ITEM_DELAY_SECONDS=N`` makes every item take N seconds
longer, so a test can stop the daemon while work is in flight.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from ambient.approvals.outbox import reclaim_dead_leases as reclaim_dead_actions
from ambient.core.config import Secrets, Settings, literal_secret_values, load_settings
from ambient.core.db import is_sqlite
from ambient.core.errors import AmbientError
from ambient.core.processing import ItemProcessor
from ambient.daemon.health import process_name, read_health
from ambient.daemon.logs import configure_logging, database_password
from ambient.daemon.notify import Notifier, Watchdog, one_line, watchdog_interval
from ambient.daemon.parts import DaemonRuntime
from ambient.daemon.reload import Reloader, delayed
from ambient.daemon.service import Daemon
from ambient.tracing.redaction import secret_names

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class DebugHooks:
    stall_seconds: float = 0.0
    item_delay_seconds: float = 0.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> DebugHooks:
        def number(name: str) -> float:
            try:
                return max(float(environ.get(name, "") or 0), 0.0)
            except ValueError:
                return 0.0

        return cls(
            number("AMBIENT_DEBUG_STALL_SECONDS"), number("AMBIENT_DEBUG_ITEM_DELAY_SECONDS")
        )


def run_daemon(
    runtime: DaemonRuntime,
    *,
    once: bool = False,
    log_level: str | None = None,
    log_format: str | None = None,
    environ: MutableMapping[str, str] | None = None,
) -> int:
    """Run the daemon in this process until stopped (or one pass with ``once``); exit code."""
    environ = os.environ if environ is None else environ
    logging_options = LoggingOptions(log_level, log_format, environ)
    logging_options.apply(runtime.settings, runtime.secrets)
    process = DaemonProcess(
        runtime,
        notifier=Notifier.from_environment(environ),
        watchdog_seconds=watchdog_interval(environ),
        debug=DebugHooks.from_environment(environ),
        logging_options=logging_options,
    )
    return asyncio.run(process.once() if once else process.serve())


@dataclass(frozen=True)
class LoggingOptions:
    """Command-line choices win over the settings, at start and on every reload."""

    level: str | None
    log_format: str | None
    environ: Mapping[str, str]

    def apply(self, settings: Settings, secrets: Secrets) -> None:
        configure_logging(
            self.level or settings.log_level,
            self.log_format or settings.log_format,
            secrets=secrets,
            redact=[
                database_password(settings.database_url),
                *(secrets.get(name) for name in secret_names(settings, secrets)),
                *literal_secret_values(settings),
            ],
            environ=self.environ,
        )


def warn_if_another_daemon(runtime: DaemonRuntime) -> None:
    """SQLite is for one daemon: say so when another one is alive on the same database."""
    if not is_sqlite(runtime.engine):
        return  # PostgreSQL: several daemons share the work by design
    health = read_health(runtime.engine, runtime.clock)
    if health.alive and health.process != process_name():
        log.warning(
            "another ambient daemon (%s) is running on this SQLite database; run one daemon "
            "per data dir, or use PostgreSQL (database_url) for several",
            health.process,
        )


def reclaim_dead_leases(runtime: DaemonRuntime) -> None:
    """At start-up: items and actions leased by a process on this host that is gone are taken
    back now, instead of after their lease (``worker.lease_seconds``, ``outbox.lease_seconds``)."""
    runtime.ledger.reclaim_dead_leases()
    reclaim_dead_actions(runtime.engine, runtime.clock)


class DaemonProcess:
    def __init__(
        self,
        runtime: DaemonRuntime,
        *,
        notifier: Notifier | None = None,
        watchdog_seconds: float | None = None,
        debug: DebugHooks | None = None,
        logging_options: LoggingOptions | None = None,
        load: Callable[[], tuple[Settings, Secrets]] = load_settings,
    ) -> None:
        self.runtime = runtime  # the first configuration's: it owns the database and tracing
        self.notifier = notifier or Notifier(None)
        self.watchdog_seconds = watchdog_seconds
        self.debug = debug or DebugHooks()
        self.logging_options = logging_options
        self.load = load
        self.stop = asyncio.Event()
        self.stop_requested = False
        self.daemon: Daemon | None = None
        self.reloader: Reloader | None = None
        self.watchdog: Watchdog | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.last_summary = ""

    # ---- the long-running service -------------------------------------------------------
    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        if self.watchdog_seconds:
            self.watchdog = Watchdog(self.notifier, self.watchdog_seconds, healthy=self._healthy)
            self._spawn(self.watchdog.run(), "watchdog")
        runtime = self.runtime
        try:
            await asyncio.to_thread(warn_if_another_daemon, runtime)  # opens the database
            await asyncio.to_thread(reclaim_dead_leases, runtime)
            daemon = await asyncio.to_thread(self._build)
            self.daemon = daemon
            self.reloader = Reloader(
                runtime,
                daemon,
                self.load,
                self.notifier,
                on_logging=self._reapply_logging,
                wrap_processor=self._wrap,
            )
            daemon.hooks.on_ready.append(lambda: self._spawn(self._announce_ready(), "ready"))
            daemon.hooks.on_stopping.append(self._announce_stopping)
            daemon.hooks.status.append(self._report_status)
            if self.stop_requested:  # a signal arrived while starting: close what was opened
                await daemon.shutdown()
            else:
                await daemon.run(self.stop)
        except AmbientError as error:  # the CLI prints it; systemd sees the exit code
            self.notifier.status(f"failed: {one_line(str(error))}")
            raise
        except Exception:
            log.exception("the daemon failed")
            self.notifier.status("failed: see the log")
            return 1
        finally:
            await self._cleanup()
        log.info("exited cleanly")
        return 0

    def _build(self) -> Daemon:
        daemon = self.runtime.daemon
        daemon.worker.processor = self._wrap(daemon.worker.processor)
        return daemon

    def _wrap(self, processor: ItemProcessor) -> ItemProcessor:
        return delayed(processor, self.debug.item_delay_seconds)

    async def _cleanup(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            loop.remove_signal_handler(signum)
        await self.runtime.aclose()  # what a failed start opened, too
        self.notifier.close()

    def _healthy(self) -> bool:
        scheduler = self.daemon.scheduler if self.daemon is not None else None
        return self.stop.is_set() or scheduler is None or scheduler.running

    def _spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- signals --------------------------------------------------------------------------
    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._request_stop, signum)
        loop.add_signal_handler(signal.SIGHUP, self._request_reload)
        if self.debug.stall_seconds:
            loop.add_signal_handler(signal.SIGUSR1, self._stall)

    def _request_stop(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.stop_requested:
            log.info("received %s while stopping; still draining", name)
            return
        self.stop_requested = True
        log.info("received %s: stopping", name)
        self._spawn(self._stop_after_reload(), "stop")

    async def _stop_after_reload(self) -> None:
        if self.reloader is not None:
            async with self.reloader.lock:  # a reload in progress finishes applying first
                self.stop.set()
        else:
            self.stop.set()

    def _request_reload(self) -> None:
        if self.stop_requested:
            log.info("received SIGHUP while stopping; ignored")
            return
        if self.reloader is None:
            log.warning("received SIGHUP before the daemon started; ignored")
            return
        log.info("received SIGHUP: reloading configuration and memory")
        self._spawn(self._reload(), "reload")

    async def _reload(self) -> None:
        assert self.reloader is not None
        await self.reloader.reload(lambda: self.stop_requested)
        if not self.stop_requested:
            self.notifier.ready(self._status_line())

    def _stall(self) -> None:
        log.warning("debug: blocking the event loop for %.1fs (SIGUSR1)", self.debug.stall_seconds)
        time.sleep(self.debug.stall_seconds)  # deliberately on the loop: that is the point
        log.warning("debug: event loop released")

    def _reapply_logging(self, settings: Settings, secrets: Secrets) -> None:
        if self.logging_options is not None:
            self.logging_options.apply(settings, secrets)

    # ---- notifications --------------------------------------------------------------------
    async def _announce_ready(self) -> None:
        daemon = self.daemon
        assert daemon is not None
        started = daemon.clock.now()
        names = {source.name for source in daemon.sources}
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while names and time.monotonic() < deadline and not self.stop_requested:
            states = await asyncio.to_thread(daemon.ledger.source_states)
            polled = {s.name for s in states if s.last_poll_at and s.last_poll_at >= started}
            if names <= polled:
                break
            await asyncio.sleep(0.05)
        else:
            if names and not self.stop_requested:
                log.warning(
                    "sources still polling after %.0fs; ready anyway", READY_TIMEOUT_SECONDS
                )
        if self.stop_requested:
            return
        log.info("ready: %d source(s) polled, scheduler running", len(names))
        self.notifier.ready(self._status_line())

    def _announce_stopping(self) -> None:
        in_flight = self.daemon.worker.in_flight if self.daemon is not None else 0
        self.notifier.stopping(f"stopping: draining {in_flight} in-flight item(s)")

    def _report_status(self, summary: str) -> None:
        self.last_summary = summary
        if not self.stop_requested:
            self.notifier.status(self._status_line())

    def _status_line(self) -> str:
        daemon = self.daemon
        summary = self.last_summary or "running"
        if daemon is None or not daemon.last_poll:
            return f"{summary}; no poll yet"
        last = max(daemon.last_poll.values())
        return f"{summary}; last poll {last:%H:%M:%S} UTC"

    # ---- one pass (`ambient run --once`) ---------------------------------------------------
    async def once(self) -> int:
        try:
            await asyncio.to_thread(reclaim_dead_leases, self.runtime)  # opens the database
            daemon = await asyncio.to_thread(self._build)
            self.daemon = daemon
            task = asyncio.get_running_loop().create_task(daemon.run_once(), name="once")
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, task.cancel)
            try:
                counts = await task
                log.info("one pass done: %d new, %d processed", counts["new"], counts["processed"])
            except asyncio.CancelledError:
                log.info("interrupted: stopping")
            finally:
                await daemon.shutdown()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)
        finally:
            await self.runtime.aclose()
        return 0
