"""The alerts job: at each tick, what newly waits goes to every channel whose time has come.

A tick notices what waits (:mod:`~ambient.daemon.alerts.waiting`), asks the policy per channel
whether to send (:func:`~ambient.daemon.alerts.policy.due`: batching, rate limit, quiet
hours), sends to the channels concurrently, each within ``send_timeout_seconds``, and records
each outcome (:class:`~ambient.daemon.alerts.store.AlertStore`) and its trace. A channel that
fails is logged with its name and the reason, keeps its mark (what it missed goes with its
next alert, after the rate limit) and stops nothing else. At each digest time the digest
channel gets everything waiting, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from ambient.core.alert_settings import AlertSettings
from ambient.core.clock import Clock
from ambient.daemon.alerts.channel import Alert, AlertChannelError, Channel
from ambient.daemon.alerts.channels import AlertChannels
from ambient.daemon.alerts.policy import LocalTime, Noticed, QuietHours, compose, due
from ambient.daemon.alerts.store import AlertStore, ChannelState, LoggedAlert, Outcome
from ambient.daemon.alerts.trace import AlertTrace
from ambient.daemon.alerts.waiting import KIND_OF_SETTING, WaitingThings

log = logging.getLogger(__name__)

DIGEST_MAX_LINES = 200
TEST_ALERT = Alert(
    title="ambient: a test alert",
    lines=("If you can read this, ambient's alerts reach you here.",),
    count=0,
    tags=("test",),
)


@dataclass(frozen=True)
class Plan:
    """One alert to send through one channel."""

    channel: Channel
    kind: str  # alert, summary, digest
    pending: Sequence[Noticed]
    max_lines: int
    slot_at: datetime | None = None

    @property
    def mark(self) -> int | None:
        return max((thing.seq for thing in self.pending), default=None)


class AlertDispatcher:
    def __init__(
        self,
        settings: AlertSettings,
        engine: Engine,
        clock: Clock,
        channels: AlertChannels,
        trace: AlertTrace | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.channels = channels
        self.trace = trace
        self.waiting = WaitingThings(engine)
        self.store = AlertStore(engine)
        self.local = LocalTime(settings.timezone)
        self.quiet = QuietHours(settings.quiet_window, self.local)

    @property
    def active(self) -> bool:
        return self.settings.enabled and bool(self.channels.all)

    async def tick(self) -> list[Outcome]:
        """One pass: notice, decide per channel, send, record. The outcomes sent."""
        if not self.active:
            return []
        now = self.clock.now()
        kinds = [KIND_OF_SETTING[kind] for kind in self.settings.on]
        current = await asyncio.to_thread(self.waiting.current, kinds)
        noticed = await asyncio.to_thread(self.store.notice, current, now)
        states = await asyncio.to_thread(self.store.states)
        plans = [
            plan
            for channel in self.channels.immediate
            if (plan := self._plan(channel, noticed, states, now)) is not None
        ]
        digest = await self._digest_plan(noticed, states, now)
        if digest is not None:
            plans.append(digest)
        if not plans:
            return []
        alerts = await asyncio.to_thread(self._compose, plans)
        outcomes = await self._send_all(plans, alerts)
        await self._record(outcomes, now)
        return outcomes

    async def test(self) -> list[Outcome]:
        """`ambient alerts test`: the test alert through every enabled channel, now (no batching,
        rate limit or quiet hours), logged; the outcome per channel."""
        channels = self.channels.all
        reasons = await asyncio.gather(*(self._send(channel, TEST_ALERT) for channel in channels))
        outcomes = [
            Outcome(channel.name, "test", 0, (), TEST_ALERT.title, error=reason)
            for channel, reason in zip(channels, reasons, strict=True)
        ]
        await self._record(outcomes, self.clock.now())
        return outcomes

    def recent(self, limit: int = 50) -> list[LoggedAlert]:
        return self.store.recent(limit)

    # ---- deciding -----------------------------------------------------------------------
    def _plan(
        self,
        channel: Channel,
        noticed: Sequence[Noticed],
        states: dict[str, ChannelState],
        now: datetime,
    ) -> Plan | None:
        state = states.get(channel.name) or ChannelState(channel.name)
        pending = [thing for thing in noticed if thing.seq > state.mark]
        verdict = due(pending, state.last_attempt_at, now, self.settings, self.quiet)
        if not verdict.send:
            return None
        kind = "summary" if verdict.summary else "alert"
        return Plan(channel, kind, pending, self.settings.max_lines)

    async def _digest_plan(
        self, noticed: Sequence[Noticed], states: dict[str, ChannelState], now: datetime
    ) -> Plan | None:
        """The digest of everything waiting, when a digest time has come that it has not
        covered (its first tick covers the times already past)."""
        channel = self.channels.digest
        slot = self.local.latest(self.settings.digest_times, now)
        if channel is None or slot is None:
            return None
        state = states.get(channel.name)
        if state is None or state.slot_at is None:
            await asyncio.to_thread(self.store.cover_slot, channel.name, slot)
            return None
        if slot <= state.slot_at:
            return None
        retry_at = state.last_attempt_at
        if retry_at is not None and retry_at >= slot:  # failed at this slot: the rate limit
            if (now - retry_at).total_seconds() < self.settings.min_interval_seconds:
                return None
        if not noticed:
            await asyncio.to_thread(self.store.cover_slot, channel.name, slot)
            return None
        return Plan(channel, "digest", noticed, DIGEST_MAX_LINES, slot_at=slot)

    def _compose(self, plans: Sequence[Plan]) -> list[Alert]:
        wanted = {thing.thing for plan in plans for thing in plan.pending[: plan.max_lines]}
        details = {entry.thing: entry for entry in self.waiting.details(sorted(wanted))}
        alerts = []
        for plan in plans:
            shown = [details[t.thing] for t in plan.pending[: plan.max_lines] if t.thing in details]
            alerts.append(
                compose(
                    plan.pending,
                    shown,
                    max_lines=plan.max_lines,
                    include_body=self.settings.include_body,
                    summary=plan.kind == "summary",
                    digest=plan.kind == "digest",
                )
            )
        return alerts

    # ---- sending ------------------------------------------------------------------------
    async def _send_all(self, plans: Sequence[Plan], alerts: Sequence[Alert]) -> list[Outcome]:
        reasons = await asyncio.gather(
            *(self._send(plan.channel, alert) for plan, alert in zip(plans, alerts, strict=True))
        )
        return [
            Outcome(
                channel=plan.channel.name,
                kind=plan.kind,
                count=alert.count,
                things=tuple(thing.thing for thing in plan.pending),
                title=alert.title,
                error=reason,
                mark=plan.mark,
                slot_at=plan.slot_at,
            )
            for plan, alert, reason in zip(plans, alerts, reasons, strict=True)
        ]

    async def _send(self, channel: Channel, alert: Alert) -> str | None:
        """Send through one channel; None when delivered, else the reason (logged)."""
        timeout = self.settings.send_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                await channel.send(alert)
        except AlertChannelError as error:
            reason = str(error)
        except TimeoutError:
            reason = f"{channel.name}: no answer within {timeout:g} s"
        except Exception as error:  # noqa: BLE001 - a broken channel must not stop the others
            log.exception("alert channel=%s raised", channel.name)
            reason = f"{channel.name}: {type(error).__name__}: {error}"
        else:
            log.info("alert channel=%s count=%d sent", channel.name, alert.count)
            return None
        log.error("alert channel=%s count=%d failed: %s", channel.name, alert.count, reason)
        return reason

    async def _record(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        log_ids = await asyncio.to_thread(self.store.record, outcomes, now)
        if self.trace is not None:
            await asyncio.to_thread(self.trace.record, log_ids, outcomes)
