"""A source's poll schedule: every ``interval_seconds``, or on a crontab expression.

A ``cron`` expression is the five crontab fields (minute, hour, day of month, month, day of
week) read the way crontab(5) reads them, turned into APScheduler's :class:`CronTrigger` in
the source's ``timezone`` (the system's local zone when unset). APScheduler 3 numbers weekdays
from Monday = 0, crontab from Sunday = 0 (7 is Sunday too): the day-of-week field is rewritten
to weekday names first, so ``1-5`` is Monday to Friday as in crontab. Where crontab fires on
either restricted day field, APScheduler needs both: an expression restricting both
day-of-month and day-of-week (neither starting with ``*``) is refused rather than read
differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:  # imported where a trigger is built: loading the settings stays light
    from apscheduler.triggers.base import BaseTrigger
    from apscheduler.triggers.cron import CronTrigger

# crontab's fields, in order, and APScheduler's names for them
CRON_FIELDS = {
    "minute": "minute",
    "hour": "hour",
    "day-of-month": "day",
    "month": "month",
    "day-of-week": "day_of_week",
}
# crontab's day numbers (0 and 7: Sunday) and names; APScheduler's names, Monday first
_CRON_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# a reference start for "does it ever fire": every real date comes round within 28 years
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Scheduled(Protocol):
    """What a source's settings say about when it is polled."""

    @property
    def interval_seconds(self) -> float: ...
    @property
    def cron(self) -> str | None: ...
    @property
    def timezone(self) -> str | None: ...


def time_zone(name: str) -> tzinfo:
    """The IANA zone ``name`` ("Europe/Berlin"); ValueError naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: not a zone key at all ("../x")
        example = '"Europe/Berlin" or "UTC"'
        raise ValueError(
            f"unknown time zone {name!r}: expected an IANA name such as {example}"
        ) from None


def cron_trigger(
    expression: str, timezone: str | None = None, *, jitter: float | None = None
) -> CronTrigger:
    """The trigger for a crontab expression; ValueError saying what is wrong with it."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields ({' '.join(CRON_FIELDS)}), got {len(fields)}")
    values = dict(zip(CRON_FIELDS.values(), fields, strict=True))
    for label, name in CRON_FIELDS.items():
        if name != "day_of_week":
            _check_field(label, name, values[name])
    values["day_of_week"] = weekday_names(values["day_of_week"])
    # crontab reads two restricted day fields as "either"; one starting with * as "both"
    if not fields[2].startswith("*") and not fields[4].startswith("*"):
        raise ValueError(
            "restricts both day-of-month and day-of-week (crontab fires on either, this "
            "schedule would need both): restrict one of them"
        )
    zone = time_zone(timezone) if timezone else None  # None: the system's local zone
    trigger = CronTrigger(**values, timezone=zone, jitter=int(jitter) if jitter else None)
    if trigger.get_next_fire_time(None, _EPOCH.astimezone(trigger.timezone)) is None:
        raise ValueError("never fires (no month has that day)")
    return trigger


def _check_field(label: str, name: str, value: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger(**{name: value}, timezone=UTC)
    except ValueError as error:
        reason = re.sub(r"^Error validating expression '[^']*': ", "", str(error))
        raise ValueError(f"{label} {value!r}: {reason}") from None


def weekday_names(field: str) -> str:
    """A crontab day-of-week field as APScheduler weekday names: ``1-5`` -> ``mon-fri``."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        base, _, step_text = part.partition("/")
        if step_text and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"day-of-week {part!r}: the step must be a number from 1")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            start, _, end = base.partition("-")
            first, last = _cron_day(start), _cron_day(end)
            if first > last:
                raise ValueError(f"day-of-week {part!r}: the range runs backwards")
        elif step_text:
            raise ValueError(f"day-of-week {part!r}: a step needs a range or *")
        else:
            first = last = _cron_day(base)
        days.update(day % 7 for day in range(first, last + 1, step))
    # crontab's Sunday = 0 is APScheduler's 6; consecutive days become ranges
    order = sorted((day - 1) % 7 for day in days)
    runs: list[list[int]] = []
    for day in order:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        _WEEKDAYS[run[0]] if len(run) == 1 else f"{_WEEKDAYS[run[0]]}-{_WEEKDAYS[run[-1]]}"
        for run in runs
    )


def _cron_day(text: str) -> int:
    if text in _CRON_DAYS:
        return _CRON_DAYS[text]
    if not text.isdigit() or not 0 <= int(text) <= 7:
        raise ValueError(f"day-of-week {text!r}: expected 0-7 (0 and 7: Sunday) or sun-sat")
    return int(text)


def poll_trigger(source: Scheduled, *, jitter: float | None = None) -> BaseTrigger:
    """When a source's poll job fires after the first poll at start-up."""
    from apscheduler.triggers.interval import IntervalTrigger

    if source.cron:
        return cron_trigger(source.cron, source.timezone, jitter=jitter)
    return IntervalTrigger(
        seconds=source.interval_seconds, jitter=int(jitter) if jitter else None, timezone=UTC
    )


@dataclass(frozen=True)
class Schedule:
    """A schedule as a value: two sources with equal ones are polled alike."""

    interval_seconds: float
    cron: str | None = None
    timezone: str | None = None


SCHEDULE_SETTINGS = frozenset({"interval_seconds", "cron", "timezone"})


def schedule_of(source: Scheduled) -> Schedule:
    return Schedule(source.interval_seconds, source.cron, source.timezone)


def describe_schedule(source: Scheduled) -> str:
    """The schedule as a user reads it: ``every 300s`` or ``cron */5 8-18 * * 1-5 (UTC)``."""
    if source.cron:
        return f"cron {source.cron} ({source.timezone or 'local time'})"
    return f"every {source.interval_seconds:g}s"


def next_poll(source: Scheduled, last_poll_at: datetime | None, now: datetime) -> datetime:
    """When a running daemon next polls the source (ignoring jitter and push), in UTC."""
    if source.cron:
        upcoming = cron_trigger(source.cron, source.timezone).get_next_fire_time(None, now)
        return upcoming.astimezone(UTC) if upcoming is not None else now
    if last_poll_at is None:
        return now
    return max(now, last_poll_at + timedelta(seconds=source.interval_seconds))
