"""Alert batching figures: a burst of mail plus a trickle, and how many alerts reach the user.

    .venv/bin/python bench/alerts.py [--bursts 200 1000] [--trickle 60] [--json]

For each burst size: that many mails become waiting things (a fifth drafts, the rest notify
items) within one minute, then ``--trickle`` more arrive one every two minutes. The real
dispatcher (``ambient/daemon/alerts/``) runs every ``interval_seconds`` of simulated time on
a database of its own, with the default ``[alerts]`` (60 s batch, one alert per channel per
300 s, no quiet hours) and two recording channels. Reported: alerts sent per channel, the
messages saved against one alert per waiting thing, the worst and median delay from arrival
to the alert that covered it (simulated seconds: the policy's, not this machine's), and the
wall time of one tick with everything waiting (this machine's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ambient.approvals.drafts import ActionContext, DraftedAction  # noqa: E402
from ambient.approvals.policy import PolicyGate  # noqa: E402
from ambient.approvals.queue import ApprovalQueue  # noqa: E402
from ambient.core.alert_settings import AlertSettings  # noqa: E402
from ambient.core.config import load_settings  # noqa: E402
from ambient.core.db import open_database  # noqa: E402
from ambient.core.items import InboundItem, ItemState  # noqa: E402
from ambient.core.ledger import Completion, Ledger  # noqa: E402
from ambient.core.lineage import Lineage  # noqa: E402
from ambient.daemon.alerts.channel import Alert  # noqa: E402
from ambient.daemon.alerts.channels import AlertChannels  # noqa: E402
from ambient.daemon.alerts.dispatcher import AlertDispatcher  # noqa: E402
from bench.results import report  # noqa: E402

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LINEAGE = Lineage(model="bench", prompt_version="p", memory_commit="none", policy_version="v")
CHANNELS = ("desktop", "http")


class SimulatedClock:
    def __init__(self) -> None:
        self.current = START

    def now(self) -> datetime:
        return self.current


@dataclass
class CountingChannel:
    name: str
    clock: SimulatedClock
    alerts: list[tuple[datetime, Alert]] = field(default_factory=list)

    async def send(self, alert: Alert) -> None:
        self.alerts.append((self.clock.now(), alert))


def _mail(number: int) -> bytes:
    return (
        f"From: Sender {number} <s{number}@example.com>\r\nTo: me@example.com\r\n"
        f"Subject: Mail {number}\r\nMessage-ID: <b{number}@example.com>\r\n\r\nHello\r\n"
    ).encode()


class Mailbox:
    """Mail arriving as waiting things: every fifth a draft, the others notify items."""

    def __init__(self, home: Path, clock: SimulatedClock) -> None:
        settings, _ = load_settings({"AMBIENT_HOME": str(home)})
        self.engine = open_database(settings.resolved_database_url)
        self.ledger = Ledger(self.engine, clock, settings.worker)
        gate = PolicyGate.from_settings(settings)
        self.queue = ApprovalQueue(self.engine, clock, settings, gate)
        self.count = 0
        self.arrivals: dict[str, datetime] = {}  # thing -> when it began to wait
        self.clock = clock

    def arrive(self, how_many: int) -> None:
        first = self.count
        self.count += how_many
        numbers = range(first, self.count)
        results = self.ledger.ingest_many(
            [InboundItem("inbox", f"k{number}", _mail(number)) for number in numbers]
        )
        claimed = {item.id: item for item in self.ledger.claim("bench", how_many)}
        completions = []
        for number, result in zip(numbers, results, strict=True):
            if number % 5 == 0:
                self._draft(result.item_id, number)
                continue
            triage = {"decision": "notify", "reason": "r", "summary": "s", "priority": "normal"}
            completions.append(Completion(result.item_id, "bench", ItemState.DONE, triage, LINEAGE))
            self.arrivals[f"item:{result.item_id}"] = self.clock.now()
        assert set(claimed) >= {done.item_id for done in completions}
        self.ledger.complete_many(completions)

    def _draft(self, item_id: int, number: int) -> None:
        self.ledger.set_state(item_id, ItemState.AWAITING_APPROVAL)
        args = {"to": [f"s{number}@example.com"], "subject": "Re: Mail", "body": "Sure."}
        (row,) = self.queue.queue_drafts(
            context=ActionContext(item_id, frozenset({f"s{number}@example.com"}), f"{item_id}"),
            trace_id="0" * 32,
            run_state=None,
            drafts=[DraftedAction("reply_email", f"c{number}", args, "asked")],
        )
        self.arrivals[f"approval:{row.id}"] = self.clock.now()


def run(burst: int, trickle: int, settings: AlertSettings) -> dict[str, Any]:
    clock = SimulatedClock()
    with tempfile.TemporaryDirectory(prefix="ambient-bench-alerts-") as home:
        mailbox = Mailbox(Path(home), clock)
        channels = [CountingChannel(name, clock) for name in CHANNELS]
        dispatcher = AlertDispatcher(
            settings, mailbox.engine, clock, AlertChannels(list(channels), None)
        )
        step = timedelta(seconds=settings.interval_seconds)
        burst_end = START + timedelta(seconds=60)
        trickle_at = [burst_end + timedelta(minutes=2 * (n + 1)) for n in range(trickle)]
        trickle_end = trickle_at[-1] if trickle_at else None
        end = (trickle_end or burst_end) + timedelta(minutes=15)
        per_step = math.ceil(burst / math.ceil(60 / settings.interval_seconds))
        tick_seconds: list[float] = []
        while clock.current <= end:
            if clock.current < burst_end and mailbox.count < burst:
                mailbox.arrive(min(per_step, burst - mailbox.count))
            while trickle_at and trickle_at[0] <= clock.current:
                trickle_at.pop(0)
                mailbox.arrive(1)
            started = time.perf_counter()
            asyncio.run(dispatcher.tick())
            tick_seconds.append(time.perf_counter() - started)
            clock.current += step
        span = ((trickle_end or burst_end) - START).total_seconds()
        delays = _delays(channels[0], mailbox.arrivals)
        mailbox.engine.dispose()
    waiting = len(mailbox.arrivals)
    sent = len(channels[0].alerts)
    return {
        "burst": burst,
        "trickle": trickle,
        "waiting_things": waiting,
        # the rate limit's bound: one alert, then at most one per min_interval_seconds
        "alerts_bound": 1 + math.ceil(span / settings.min_interval_seconds),
        "alerts_per_channel": {channel.name: len(channel.alerts) for channel in channels},
        "first_alert_count": channels[0].alerts[0][1].count if sent else 0,
        "messages_saved": 1 - sent / waiting,
        "worst_delay_seconds": max(delays),
        "median_delay_seconds": statistics.median(delays),
        "tick_ms_median": statistics.median(tick_seconds) * 1000,
        "tick_ms_max": max(tick_seconds) * 1000,
    }


def _delays(channel: CountingChannel, arrivals: dict[str, datetime]) -> list[float]:
    """Per waiting thing: seconds from its arrival to the first alert that counted it."""
    alerted: dict[str, datetime] = {}
    for at, alert in channel.alerts:
        things = [f"approval:{i}" for i in alert.approval_ids] + [
            f"item:{i}" for i in alert.item_ids
        ]
        for thing in things:
            alerted.setdefault(thing, at)
    missing = set(arrivals) - set(alerted)
    assert not missing, f"never alerted: {sorted(missing)[:5]}"
    return [(alerted[thing] - arrived).total_seconds() for thing, arrived in arrivals.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bursts", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--trickle", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = AlertSettings(quiet_hours="", timezone="UTC", desktop="off")
    limit = settings.batch_seconds + settings.min_interval_seconds + settings.interval_seconds
    results = [run(burst, args.trickle, settings) for burst in args.bursts]
    if args.json:
        print(json.dumps(results, indent=2))
    for result in results:
        burst, sent = result["burst"], result["alerts_per_channel"]["desktop"]
        print(
            f"burst of {burst} + trickle of {result['trickle']} ({result['waiting_things']} "
            f"waiting things): {sent} alerts per channel (bound {result['alerts_bound']}; "
            f"{result['alerts_per_channel']}); first alert counts {result['first_alert_count']}; "
            f"{result['messages_saved']:.1%} of one-per-item "
            f"messages saved; delay from "
            f"arrival to alert: worst {result['worst_delay_seconds']:.0f} s, median "
            f"{result['median_delay_seconds']:.0f} s (goal: worst <= {limit:.0f} s); tick "
            f"{result['tick_ms_median']:.1f} ms median, {result['tick_ms_max']:.1f} ms max"
        )
        worst = result["worst_delay_seconds"]
        report(f"alerts: {burst}-mail burst, first alert counts", result["first_alert_count"])
        bound = result["alerts_bound"]
        report(
            f"alerts: {burst} burst + {result['trickle']} trickle, alerts per channel",
            sent,
            "",
            f"<= {bound}",
            sent <= bound,
        )
        report(
            f"alerts: {burst} burst, messages saved",
            round(result["messages_saved"] * 100, 1),
            "%",
        )
        report(
            f"alerts: {burst} burst, worst delay", worst, "s", f"<= {limit:.0f} s", worst <= limit
        )
        report(f"alerts: tick with {burst}+ waiting", round(result["tick_ms_median"], 1), "ms")


if __name__ == "__main__":
    main()
