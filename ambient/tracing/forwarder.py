"""The span forwarder: a daemon job that moves the spool to every destination, and only then
lets the spool forget it.

Each destination (Langfuse, an OTLP endpoint) is a lane with its own cursor into the spool and
its own backoff: when one is down, refuses the credentials or hangs, its rows stay, it backs off
(exponentially, capped), says so once, and says so again when it is back, while the other lanes
go on delivering. The lanes run side by side: a hanging server costs its own lane one timeout
per attempt; neither the other lanes nor the rest of the daemon wait on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ambient.core.clock import Clock
from ambient.core.config import TracingSettings
from ambient.tracing.delivery import DeliveryError, Destination
from ambient.tracing.spool import Spool, SpooledBatch
from ambient.tracing.tables import SpoolKind

log = logging.getLogger(__name__)

MAX_BATCHES_PER_TICK = 50


@dataclass
class Lane:
    """One destination's progress as the forwarder sees it."""

    destination: Destination
    failures: int = 0
    retry_at: datetime | None = None
    delivered: int = 0


class SpanForwarder:
    def __init__(
        self,
        spool: Spool,
        destinations: Sequence[Destination],
        settings: TracingSettings,
        clock: Clock,
    ) -> None:
        self.spool = spool
        self.settings = settings
        self.clock = clock
        self.lanes = [Lane(destination) for destination in destinations]
        # who reads each kind here: a row goes once they and every other cursor have it
        self.readers = {
            kind: [lane.destination.name for lane in self.lanes if kind in lane.destination.kinds]
            for kind in SpoolKind
        }

    @property
    def retry_at(self) -> datetime | None:
        """When the next lane that is backing off tries again (None: none is)."""
        waiting = [lane.retry_at for lane in self.lanes if lane.retry_at is not None]
        return min(waiting, default=None)

    @property
    def delivered(self) -> int:
        return sum(lane.delivered for lane in self.lanes)

    # ---- the job --------------------------------------------------------------------------
    async def tick(self) -> int:
        """Deliver what is due; returns how many spans and scores the destinations accepted."""
        counts = await asyncio.gather(*(self._tick(lane) for lane in self.lanes))
        return sum(counts)

    async def _tick(self, lane: Lane) -> int:
        if lane.retry_at is not None and self.clock.now() < lane.retry_at:
            return 0
        delivered = 0
        for kind in lane.destination.kinds:
            for _ in range(MAX_BATCHES_PER_TICK):
                batch = await asyncio.to_thread(
                    self.spool.claim,
                    lane.destination.name,
                    kind,
                    max_bytes=self.settings.forward_batch_max_bytes,
                    lease_seconds=self.settings.forward_timeout_seconds * 3 + 30,
                )
                if batch is None:
                    break
                try:
                    delivered += await self._deliver(lane, batch)
                except DeliveryError as error:
                    await asyncio.to_thread(self.spool.release, batch, str(error))
                    self._failed(lane, error, delivered)
                    return delivered
        self._recovered(lane, delivered)
        return delivered

    async def _deliver(self, lane: Lane, batch: SpooledBatch) -> int:
        """Send one batch, then move on; 0 if the destination rejected it for good."""
        destination = lane.destination
        accepted = batch.records
        try:
            await destination.send(batch)
        except DeliveryError as error:
            if not error.permanent:
                raise
            log.error(
                "tracing: %s rejected %d %s for good, dropping them: %s",
                destination.label,
                batch.records,
                batch.kind.value,
                error,
            )
            accepted = 0
        await asyncio.to_thread(self.spool.acknowledge, batch, self.readers[batch.kind])
        return accepted

    def _failed(self, lane: Lane, error: DeliveryError, delivered: int) -> None:
        lane.failures += 1
        lane.delivered += delivered
        delay = min(
            self.settings.forward_backoff_seconds * 2 ** (lane.failures - 1),
            self.settings.forward_backoff_max_seconds,
        )
        lane.retry_at = self.clock.now() + timedelta(seconds=delay)
        if lane.failures == 1:
            log.warning(
                "tracing: cannot deliver to %s: %s; spans stay in the local spool, "
                "retrying in %.0fs",
                lane.destination.label,
                error,
                delay,
            )
        else:
            log.debug(
                "tracing: delivery attempt %d to %s failed: %s",
                lane.failures,
                lane.destination.label,
                error,
            )

    def _recovered(self, lane: Lane, delivered: int) -> None:
        lane.delivered += delivered
        if lane.failures:
            log.info(
                "tracing: %s reachable again after %d failed attempt(s); delivered %d",
                lane.destination.label,
                lane.failures,
                delivered,
            )
        lane.failures = 0
        lane.retry_at = None

    async def aclose(self) -> None:
        for lane in self.lanes:
            await lane.destination.aclose()
