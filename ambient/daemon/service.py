"""The daemon: APScheduler runs the poll jobs, the worker and the periodic jobs.

Every job is a plain ``async`` unit of work that the scheduler only schedules, so
``ambient run --once`` and tests call the same code directly. Shutdown: pause the scheduler,
stop taking work, let in-flight items finish within the grace period (the rest are released
back to the queue), then shut the scheduler down. (``AsyncIOScheduler.shutdown(wait=True)``
would cancel running coroutine jobs, so in-flight work is awaited by us, not by it.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from ambient.core.clock import Clock
from ambient.core.config import Settings
from ambient.core.items import InboundItem
from ambient.core.ledger import IngestResult, Ledger
from ambient.core.processing import describe_error, warm_up
from ambient.core.schedule import Schedule, poll_trigger, schedule_of
from ambient.daemon.health import HeartbeatRecorder
from ambient.daemon.worker import Worker
from ambient.sources.base import PushSource, Source
from ambient.tracing.steps import StepRecorder

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0


@dataclass
class PeriodicJob:
    """A unit of work run on an interval (outbox, span forwarder, housekeeping...)."""

    name: str
    interval_seconds: float
    tick: Callable[[], Awaitable[Any]]
    run_once: bool = True  # include in `ambient run --once`


@dataclass
class DaemonHooks:
    """Callbacks the service layer (systemd notify, reload) attaches to the daemon."""

    on_ready: list[Callable[[], None]] = field(default_factory=list)
    on_stopping: list[Callable[[], None]] = field(default_factory=list)
    status: list[Callable[[str], None]] = field(default_factory=list)
    on_reload: list[Callable[[Settings], Awaitable[None]]] = field(default_factory=list)


class Daemon:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        ledger: Ledger,
        worker: Worker,
        sources: list[Source],
        jobs: list[PeriodicJob] | None = None,
        heartbeat: HeartbeatRecorder | None = None,
        close: list[Callable[[], Awaitable[None]]] | None = None,
        steps: StepRecorder | None = None,
    ) -> None:
        self.settings = settings
        self.steps = steps
        self.clock = clock
        self.ledger = ledger
        self.worker = worker
        self.sources = list(sources)
        self.jobs = list(jobs or [])
        self.heartbeat = heartbeat
        self.hooks = DaemonHooks()
        self._close = list(close or [])
        self._running_jobs: set[asyncio.Task[Any]] = set()
        self._push_tasks: list[asyncio.Task[None]] = []
        self._poll_locks: dict[str, asyncio.Lock] = {}
        self._poll_again: set[str] = set()
        self._warm_up: asyncio.Task[None] | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.last_poll: dict[str, datetime] = {}

    # ---- units of work ------------------------------------------------------------------
    async def poll(self, source: Source) -> int:
        """Poll one source into the ledger; returns how many items were new. Never raises."""
        lock = self._poll_locks.setdefault(source.name, asyncio.Lock())
        if lock.locked():
            # A poll of this source is running (an IDLE wake during a scheduled poll): it
            # polls once more when it ends, so what woke us is not missed.
            self._poll_again.add(source.name)
            return 0
        created = 0
        async with lock:
            try:
                handle = await asyncio.to_thread(self.ledger.try_poll_lock, source.name)
            except Exception as error:  # noqa: BLE001 - the database is down or locked
                log.error("source=%s poll skipped: %s", source.name, describe_error(error))
                return 0
            if handle is False:
                return 0  # another daemon polls this source right now
            try:
                while True:
                    self._poll_again.discard(source.name)
                    created += await self._poll_locked(source)
                    if source.name not in self._poll_again:
                        return created
            finally:
                await asyncio.to_thread(self.ledger.release_poll_lock, handle)

    async def _poll_locked(self, source: Source) -> int:
        created = 0
        try:
            while True:
                items = await source.poll(self.ledger.known_keys)
                if not items:
                    break
                results = await asyncio.to_thread(self.ledger.ingest_many, items)
                created += sum(result.created for result in results)
                await source.acknowledge([item.key for item in items])
                await self._trace_ingest(source.name, items, results)
                if len(items) < 100:
                    break  # a large backlog is read in batches; a small one is done
        except Exception as error:  # noqa: BLE001 - a source's error is recorded there
            message = describe_error(error)
            log.error("source=%s poll failed: %s", source.name, message)
            await self._record_poll(source.name, message)
            return created
        await self._record_poll(source.name, None)
        self.last_poll[source.name] = self.clock.now()
        if created:
            log.info("source=%s new items=%d", source.name, created)
            if self.worker.refill:
                await self.worker.tick()
        return created

    async def _trace_ingest(
        self, source: str, items: list[InboundItem], results: list[IngestResult]
    ) -> None:
        if self.steps is None or not self.steps.enabled:
            return  # without Langfuse the ledger row is the record of the ingest
        steps = self.steps
        created = [
            (inbound, result)
            for inbound, result in zip(items, results, strict=True)
            if result.created
        ]

        def record() -> None:
            for inbound, result in created:
                steps.record_step(
                    result.item_id,
                    "ingest",
                    input={"source": source, "key": inbound.key, "kind": inbound.kind},
                    output={"state": result.state.value},
                )

        if created:
            try:
                await asyncio.to_thread(record)
            except Exception:  # noqa: BLE001 - tracing never stops the pipeline
                log.exception("source=%s ingest steps not traced", source)

    async def _record_poll(self, name: str, error: str | None) -> None:
        try:
            await asyncio.to_thread(self.ledger.record_poll, name, error=error)
        except Exception as failure:  # noqa: BLE001 - e.g. the database is locked right now
            log.error("source=%s cannot record the poll: %s", name, describe_error(failure))

    async def poll_all(self) -> int:
        counts = await asyncio.gather(*(self.poll(source) for source in self.sources))
        return sum(counts)

    async def beat(self) -> None:
        if self.heartbeat is None:
            return
        counts = await asyncio.to_thread(self.ledger.counts)
        states = counts.by_state
        status = (
            f"{states['awaiting_approval']} awaiting approval, {states['new']} new, "
            f"{self.worker.in_flight} in progress, {states['quarantined']} quarantined"
        )
        await asyncio.to_thread(self.heartbeat.beat, status)
        for callback in self.hooks.status:
            callback(status)

    async def run_once(self) -> dict[str, int]:
        """One pass of every job: poll every source, process every due item, run the jobs."""
        new_items = await self.poll_all()
        processed = await self._worker_pass()
        for job in self.jobs:
            if job.run_once:
                await self._guarded(job.name, job.tick)
        # jobs (feedback re-runs, outbox) may have made more work for the worker
        processed += await self._worker_pass()
        await self._guarded("heartbeat", self.beat)
        return {"new": new_items, "processed": processed}

    async def _worker_pass(self) -> int:
        try:
            return await self.worker.run_until_idle()
        except Exception as error:  # noqa: BLE001 - e.g. the database is locked right now
            log.error("worker pass failed: %s", describe_error(error))
            return 0

    async def _guarded(self, name: str, tick: Callable[[], Awaitable[Any]]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running_jobs.add(task)
        try:
            await tick()
        except Exception:  # noqa: BLE001 - one job's error must not stop the daemon
            log.exception("job=%s failed", name)
        finally:
            if task is not None:
                self._running_jobs.discard(task)

    # ---- the long-running daemon --------------------------------------------------------
    def _schedule(self, scheduler: AsyncIOScheduler) -> None:
        common: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
        now = self.clock.now()
        for source in self.sources:
            self._schedule_poll(scheduler, source)
        scheduler.add_job(
            self._guarded,
            "interval",
            args=["worker", self.worker.tick],
            seconds=self.settings.worker.interval_seconds,
            id="worker",
            next_run_time=now,
            **common,
        )
        scheduler.add_job(
            self._guarded,
            "interval",
            args=["heartbeat", self.beat],
            seconds=HEARTBEAT_SECONDS,
            id="heartbeat",
            next_run_time=now,
            **common,
        )
        for job in self.jobs:
            scheduler.add_job(
                self._guarded,
                "interval",
                args=[job.name, job.tick],
                seconds=job.interval_seconds,
                id=job.name,
                next_run_time=now,
                **common,
            )

    def _schedule_poll(self, scheduler: AsyncIOScheduler, source: Source) -> None:
        """Poll at once (a daemon started at 19:00 reads what came in), then on the schedule."""
        scheduler.add_job(
            self._guarded,
            _poll_trigger(self.settings, source.name),
            args=[f"poll:{source.name}", _bind(self.poll, source)],
            id=f"poll:{source.name}",
            next_run_time=self.clock.now(),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=30,
        )

    def _start_push(self, sources: list[Source] | None = None) -> None:
        for source in self.sources if sources is None else sources:
            if isinstance(source, PushSource):
                wake = _bind(self.poll, source)
                task = asyncio.create_task(self._watch(source, wake), name=f"push:{source.name}")
                self._push_tasks.append(task)

    async def _watch(self, source: PushSource, wake: Callable[[], Awaitable[Any]]) -> None:
        async def on_push() -> None:
            await self._guarded(f"push:{source.name}", wake)

        try:
            await source.watch(on_push)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - push is an optimisation; polling goes on
            log.exception("source=%s push watch stopped; polling continues", source.name)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then shut down cleanly."""
        self.worker.refill = True
        # Skipped runs are the design (no overlapping polls), not news: keep them out of the log.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler = scheduler
        self._schedule(scheduler)
        scheduler.start()
        self._warm_up = asyncio.create_task(self._guarded("warm-up", self._prepare_processor))
        self._start_push()
        log.info(
            "daemon running: %d source(s), concurrency %d, model %s",
            len(self.sources),
            self.settings.worker.concurrency,
            self.settings.model_name,
        )
        for callback in self.hooks.on_ready:
            callback()
        try:
            await stop.wait()
        finally:
            await self.shutdown()

    async def _prepare_processor(self) -> None:
        await warm_up(self.worker.processor)

    async def _finish_running_jobs(self, grace_seconds: float) -> None:
        """Let job runs in progress end (the scheduler's own shutdown would cancel them)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        await asyncio.sleep(0)  # a run submitted just before the pause starts and registers
        while loop.time() < deadline:
            running = [t for t in self._running_jobs if t is not asyncio.current_task()]
            if not running:
                return
            await asyncio.wait(running, timeout=deadline - loop.time())
        log.warning("stopping: job runs still in progress after %.0fs", grace_seconds)

    async def shutdown(self) -> None:
        for callback in self.hooks.on_stopping:
            callback()
        log.info("stopping: no new work; draining")
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()
        for task in self._push_tasks:
            task.cancel()
        await asyncio.gather(*self._push_tasks, return_exceptions=True)
        await self.worker.drain(self.settings.worker.drain_seconds)
        await self._finish_running_jobs(self.settings.worker.drain_seconds)
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for close in [*(source.close for source in self.sources), *self._close]:
            try:
                await close()
            except Exception:  # noqa: BLE001 - closing one part must not skip the others
                log.exception("error while closing")
        if self.heartbeat is not None:
            await asyncio.to_thread(self.heartbeat.stopped)
        log.info("stopped")

    # ---- reload (SIGHUP, driven by ambient.daemon.runner) ---------------------------------
    async def reload(self, settings: Settings, sources: list[Source]) -> None:
        """Switch to new settings and sources on the live scheduler, without dropping work.

        ``sources`` is the whole new list: a source object already running keeps its poll job
        (and its connection; a changed schedule replaces the job's trigger); removed or replaced
        ones stop being polled and are closed once a poll in progress ends; new ones poll at
        once. In-flight items and other jobs go on.
        """
        current = {id(source) for source in self.sources}
        wanted = {id(source) for source in sources}
        removed = [source for source in self.sources if id(source) not in wanted]
        added = [source for source in sources if id(source) not in current]
        old_interval = self.settings.worker.interval_seconds
        rescheduled = [
            source
            for source in sources
            if id(source) in current
            and _poll_timing(self.settings, source.name) != _poll_timing(settings, source.name)
        ]
        self.settings = settings
        self.worker.settings = settings.worker
        self.ledger.settings = settings.worker
        self.sources = list(sources)
        scheduler = self.scheduler
        for source in removed:
            if scheduler is not None and scheduler.get_job(f"poll:{source.name}") is not None:
                scheduler.remove_job(f"poll:{source.name}")
            for task in [t for t in self._push_tasks if t.get_name() == f"push:{source.name}"]:
                task.cancel()
                self._push_tasks.remove(task)
        if scheduler is not None and scheduler.running:
            for source in added:
                self._schedule_poll(scheduler, source)
            for source in rescheduled:  # the next poll on the new schedule, none at once
                trigger = _poll_trigger(settings, source.name)
                scheduler.reschedule_job(f"poll:{source.name}", trigger=trigger)
            self._start_push(added)
            if settings.worker.interval_seconds != old_interval:
                scheduler.reschedule_job(
                    "worker", trigger="interval", seconds=settings.worker.interval_seconds
                )
        for source in removed:
            async with self._poll_locks.setdefault(source.name, asyncio.Lock()):
                try:
                    await source.close()
                except Exception:  # noqa: BLE001 - closing an old source must not stop the reload
                    log.exception("source=%s error while closing", source.name)
        for callback in self.hooks.on_reload:
            try:
                await callback(settings)
            except Exception:  # noqa: BLE001 - one part failing to reload must not stop the rest
                log.exception("reload hook failed")
        log.info(
            "reloaded: %d source(s) (%d added, %d removed)",
            len(self.sources),
            len(added),
            len(removed),
        )


def _bind(
    function: Callable[[Source], Awaitable[Any]], source: Source
) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        return await function(source)

    return call


def _poll_timing(settings: Settings, name: str) -> tuple[Schedule, float]:
    """The named source's schedule (one built in code, not configured: every minute), jitter."""
    jitter = settings.worker.poll_jitter_seconds
    for source in settings.sources:
        if source.name == name:
            return schedule_of(source), jitter
    return Schedule(interval_seconds=60.0), jitter


def _poll_trigger(settings: Settings, name: str) -> BaseTrigger:
    schedule, jitter = _poll_timing(settings, name)
    return poll_trigger(schedule, jitter=jitter)
