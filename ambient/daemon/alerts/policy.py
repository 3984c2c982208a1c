"""When a channel may alert (batching, rate limit, quiet hours) and what the alert says.

Pure functions of the waiting things, the channel's last try and the time: the dispatcher asks
:func:`due` per channel at every tick. New things are gathered for ``batch_seconds`` after the
first; a channel sends at most once per ``min_interval_seconds``; in quiet hours nothing goes,
and once they end what was held goes as one summary. :func:`compose` writes the alert: a title
with the counts, one line per thing up to ``max_lines``, then "and N more".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from ambient.core.alert_settings import AlertSettings, Window
from ambient.core.schedule import time_zone
from ambient.daemon.alerts.channel import Alert
from ambient.daemon.alerts.waiting import ThingDetails, ThingKind

NOUNS: dict[ThingKind, tuple[str, str]] = {
    "draft": ("draft", "drafts"),
    "question": ("question", "questions"),
    "notify": ("item to read", "items to read"),
}
LABELS: dict[ThingKind, str] = {"draft": "draft", "question": "question", "notify": "to read"}


@dataclass(frozen=True)
class Noticed:
    """A waiting thing with its place in the order things were noticed."""

    seq: int
    thing: str
    kind: ThingKind
    noticed_at: datetime


@dataclass(frozen=True)
class Verdict:
    send: bool
    summary: bool = False  # what quiet hours held, sent as they end
    reason: str = ""  # why not (yet): "gathering", "rate limit", "quiet hours", "nothing new"


class LocalTime:
    """Times of day in the alerts' zone (the system's when none is set)."""

    def __init__(self, zone: str | None) -> None:
        self.zone: tzinfo | None = time_zone(zone) if zone else None

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def at(self, moment: datetime, clock_time: time, days: int = 0) -> datetime:
        """That time of day on the (local) day of `moment`, `days` later, as an aware time."""
        day = self.local(moment).date() + timedelta(days=days)
        naive = datetime.combine(day, clock_time)
        return naive.replace(tzinfo=self.zone) if self.zone else naive.astimezone()

    def latest(self, times: Sequence[time], moment: datetime) -> datetime | None:
        """The latest of these times of day at or before `moment`."""
        past = [
            candidate
            for days in (0, -1)
            for clock_time in times
            if (candidate := self.at(moment, clock_time, days)) <= moment
        ]
        return max(past, default=None)


class QuietHours:
    def __init__(self, window: Window | None, local: LocalTime) -> None:
        self.window = window
        self.local = local

    def contains(self, moment: datetime) -> bool:
        if self.window is None:
            return False
        now = self.local.local(moment).time()
        start, end = self.window.start, self.window.end
        if start < end:
            return start <= now < end
        return now >= start or now < end  # across midnight

    def last_end(self, moment: datetime) -> datetime | None:
        """When quiet hours last ended, at or before `moment` (None: there are none)."""
        if self.window is None:
            return None
        return self.local.latest([self.window.end], moment)


def due(
    pending: Sequence[Noticed],
    last_attempt_at: datetime | None,
    now: datetime,
    settings: AlertSettings,
    quiet: QuietHours,
) -> Verdict:
    """Whether a channel sends its pending things now."""
    if not pending:
        return Verdict(False, reason="nothing new")
    first = min(thing.noticed_at for thing in pending)
    if quiet.contains(now):
        return Verdict(False, reason="quiet hours")
    ended = quiet.last_end(now)
    # held: it waits from before quiet hours ended, and nothing was tried since they did
    summary = (
        ended is not None and first < ended and (last_attempt_at is None or last_attempt_at < ended)
    )
    if not summary and now < first + timedelta(seconds=settings.batch_seconds):
        return Verdict(False, reason="gathering")
    interval = timedelta(seconds=settings.min_interval_seconds)
    if last_attempt_at is not None and now < last_attempt_at + interval:
        return Verdict(False, reason="rate limit")
    return Verdict(True, summary=summary)


def counted(kinds: Sequence[ThingKind]) -> str:
    """``["draft", "draft", "question"]`` -> "2 drafts and 1 question"."""
    counts = Counter(kinds)
    parts = [
        f"{counts[kind]} {NOUNS[kind][0] if counts[kind] == 1 else NOUNS[kind][1]}"
        for kind in NOUNS
        if counts[kind]
    ]
    if len(parts) <= 1:
        return "".join(parts) or "nothing"
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def line(details: ThingDetails, include_body: bool) -> str:
    what = f"{LABELS[details.kind]} ({details.action})" if details.action else LABELS[details.kind]
    text = f"{what}: {details.subject} — from {details.who}"
    if include_body and details.excerpt:
        text += f" — “{details.excerpt}”"
    return text


def compose(
    pending: Sequence[Noticed],
    details: Sequence[ThingDetails],
    *,
    max_lines: int,
    include_body: bool,
    summary: bool = False,
    digest: bool = False,
) -> Alert:
    """The alert for these things: counts in the title, `details` (the first ones) as lines."""
    kinds = [thing.kind for thing in pending]
    title = f"ambient: {counted(kinds)} {'waits' if len(kinds) == 1 else 'wait'} for you"
    if summary:
        title += " (held over quiet hours)"
    if digest:
        title += " (digest)"
    lines = [line(entry, include_body) for entry in details[:max_lines]]
    if len(pending) > len(lines):
        lines.append(f"and {len(pending) - len(lines)} more")
    approvals = tuple(_ids(pending, "approval:"))
    items = tuple(_ids(pending, "item:"))
    return Alert(
        title=title,
        lines=tuple(lines),
        urgency="low" if summary else "normal",
        count=len(pending),
        approval_ids=approvals,
        item_ids=items,
        tags=tuple(kind for kind in NOUNS if kind in kinds),
    )


def _ids(pending: Sequence[Noticed], prefix: str) -> list[int]:
    return [
        int(thing.thing.removeprefix(prefix)) for thing in pending if thing.thing.startswith(prefix)
    ]
