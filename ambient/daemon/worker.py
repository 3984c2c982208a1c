"""The worker: claims due items from the ledger and hands each to the item processor.

The processor (the agent, in production) is reached through one narrow interface,
:class:`ItemProcessor`, so the worker neither knows nor cares which model runs.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from ambient.core.config import WorkerSettings
from ambient.core.ledger import ClaimedItem, Completion, Ledger
from ambient.core.processing import (
    ItemProcessor,
    PermanentItemError,
    TransientItemError,
    concurrency_limit,
    describe_error,
)
from ambient.daemon.logs import log_context

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        ledger: Ledger,
        processor: ItemProcessor,
        settings: WorkerSettings,
        owner: str,
    ) -> None:
        self.ledger = ledger
        self.processor = processor
        self.settings = settings
        self.owner = owner
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._accepting = True
        self._claim_lock = asyncio.Lock()
        self._refills: set[asyncio.Task[int]] = set()
        self._pending_results: list[tuple[Completion, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.refill = False  # the daemon sets this: a finished item frees a slot, claim at once
        self.processed = 0

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def tick(self) -> int:
        """Claim as many due items as there are free slots and start them; returns how many."""
        if not self._accepting:
            return 0
        async with self._claim_lock:
            limit = self.settings.concurrency
            own_limit = concurrency_limit(self.processor)
            if own_limit is not None:
                limit = min(limit, own_limit)
            free = limit - len(self._in_flight)
            if free <= 0:
                return 0
            claimed = await asyncio.to_thread(self.ledger.claim, self.owner, free)
            for item in claimed:
                task = asyncio.create_task(self._run(item), name=f"item-{item.id}")
                self._in_flight[item.id] = task
                task.add_done_callback(partial(self._finished, item.id))
            return len(claimed)

    def _finished(self, item_id: int, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(item_id, None)
        if self.refill and self._accepting:
            task = asyncio.get_running_loop().create_task(self.tick())
            self._refills.add(task)
            task.add_done_callback(self._refill_done)

    def _refill_done(self, task: asyncio.Task[int]) -> None:
        self._refills.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("claiming more items failed: %s", describe_error(error))

    async def _run(self, item: ClaimedItem) -> None:
        with log_context(item_id=item.id, trace_id=item.trace_id):
            await self._run_item(item)

    async def _run_item(self, item: ClaimedItem) -> None:
        renew = asyncio.create_task(self._keep_lease(item))
        try:
            outcome = await asyncio.wait_for(
                self.processor.process(item), timeout=self.settings.lease_seconds * 0.9
            )
        except asyncio.CancelledError:
            await asyncio.shield(asyncio.to_thread(self.ledger.release, item.id, self.owner))
            raise
        except PermanentItemError as error:
            await asyncio.to_thread(
                self.ledger.fail, item.id, self.owner, describe_error(error), retryable=False
            )
        except TransientItemError as error:
            log.warning("item=%s trace=%s processing failed: %s", item.id, item.trace_id, error)
            await asyncio.to_thread(self.ledger.fail, item.id, self.owner, str(error))
        except Exception as error:  # noqa: BLE001 - the error belongs to the item; daemon goes on
            log.exception("item=%s trace=%s processing failed", item.id, item.trace_id)
            await asyncio.to_thread(self.ledger.fail, item.id, self.owner, describe_error(error))
        else:
            completion = Completion(
                item.id, self.owner, outcome.state, outcome.triage, outcome.lineage
            )
            await self._store(completion)
            self.processed += 1
            log.info("item=%s trace=%s -> %s", item.id, item.trace_id, outcome.state.value)
        finally:
            renew.cancel()

    async def _store(self, completion: Completion) -> None:
        """Persist a result; results finishing together share one transaction."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending_results.append((completion, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_results())
        await asyncio.shield(future)

    async def _flush_results(self) -> None:
        while self._pending_results:
            batch, self._pending_results = self._pending_results, []
            try:
                stored = await asyncio.to_thread(
                    self.ledger.complete_many, [completion for completion, _ in batch]
                )
            except Exception as error:  # noqa: BLE001 - handed to each waiting item
                for _, future in batch:
                    future.set_exception(error)
            else:
                for (_, future), ok in zip(batch, stored, strict=True):
                    future.set_result(ok)

    async def _keep_lease(self, item: ClaimedItem) -> None:
        interval = max(self.settings.lease_seconds / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                held = await asyncio.to_thread(self.ledger.extend_lease, item.id, self.owner)
            except Exception as error:  # noqa: BLE001 - try again at the next interval
                log.warning("item=%s cannot extend its lease: %s", item.id, describe_error(error))
                continue
            if not held:
                log.warning("item=%s lease lost; its result will be dropped", item.id)
                return

    async def run_until_idle(self) -> int:
        """Process every due item, then return how many finished (`ambient run --once`)."""
        before = self.processed
        while True:
            started = await self.tick()
            if not self._in_flight:
                if started == 0:
                    break
                continue
            await asyncio.wait(list(self._in_flight.values()), return_when=asyncio.FIRST_COMPLETED)
        return self.processed - before

    async def drain(self, grace_seconds: float) -> None:
        """Stop taking work; let in-flight items finish, release the rest after the grace."""
        self._accepting = False
        tasks = list(self._in_flight.values())
        if not tasks:
            return
        log.info("draining %d in-flight item(s), grace %.0fs", len(tasks), grace_seconds)
        _done, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            log.warning("released %d unfinished item(s) back to the queue", len(pending))
