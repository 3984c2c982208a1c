"""`[alerts]` in ambient.toml: when and how ambient tells the user that something waits.

Waiting things are pending drafts, questions (``ask_user``) and unread "notify" items. New ones
are gathered for ``batch_seconds`` after the first, then sent as one alert per channel, at
most one per channel every ``min_interval_seconds`` (what comes meanwhile goes into the next);
nothing goes out in ``quiet_hours`` (in ``timezone``, default the system's): what was held
goes as one summary when they end. Alerts say what waits and from whom, never the message
body unless ``include_body`` (then a short excerpt)::

    [alerts]
    quiet_hours = "22:00-07:00"
    timezone = "Europe/Berlin"
    command = ["/usr/local/bin/my-alert"]   # the alert as JSON on stdin
    digest = ["08:00", "17:30"]             # an email listing everything waiting

    [alerts.http]                           # ntfy or anything that reads its headers
    url = "https://ntfy.sh/my-topic"
    token_from = "NTFY_TOKEN"               # the variable holding the token (.env)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ambient.core.schedule import time_zone

WaitingKind = Literal["drafts", "questions", "notify"]
WAITING_KINDS: tuple[WaitingKind, ...] = ("drafts", "questions", "notify")
NtfyPriority = Literal["min", "low", "default", "high", "max", "urgent"]
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_VARIABLE = r"^[A-Za-z_][A-Za-z0-9_]*$"


def parse_clock_time(text: str) -> time:
    """``"07:30"`` -> 07:30; ValueError saying what is expected."""
    found = _CLOCK_TIME.match(text.strip())
    if found is None:
        raise ValueError(f"expected a time of day as HH:MM (24 hours), got {text!r}")
    return time(int(found.group(1)), int(found.group(2)))


@dataclass(frozen=True)
class Window:
    """A daily window of local time; it runs across midnight when it ends before it starts."""

    start: time
    end: time


def parse_window(text: str) -> Window:
    start, dash, end = text.partition("-")
    if not dash:
        raise ValueError(f'expected two times like "22:00-07:00", got {text!r}')
    window = Window(parse_clock_time(start), parse_clock_time(end))
    if window.start == window.end:
        raise ValueError(f"{text!r} starts and ends at the same time: leave it empty for none")
    return window


def _check_window(value: str) -> str:
    if value.strip():
        parse_window(value)
    return value


def _check_times(values: list[str]) -> list[str]:
    for value in values:
        parse_clock_time(value)
    return values


def _check_zone(value: str | None) -> str | None:
    if value is not None:
        time_zone(value)
    return value


def _check_command(values: list[str]) -> list[str]:
    if values and not values[0].strip():
        raise ValueError("the command's first word (the program) is empty")
    return values


class HttpAlertSettings(BaseModel):
    """An ntfy-compatible POST: Title, Priority and Tags headers, the alert's text as the body."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://\S+$")
    token_from: str | None = Field(default=None, pattern=_VARIABLE)  # Authorization: Bearer
    priority: NtfyPriority = "default"
    timeout_seconds: float = Field(default=10.0, gt=0)


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    on: list[WaitingKind] = Field(default_factory=lambda: list(WAITING_KINDS))
    interval_seconds: float = Field(default=10.0, gt=0)  # how often the dispatcher looks
    batch_seconds: float = Field(default=60.0, ge=0)  # gather after the first new thing
    min_interval_seconds: float = Field(default=300.0, ge=0)  # per channel
    max_lines: int = Field(default=10, ge=1, le=1000)  # then "and N more"
    quiet_hours: Annotated[str, AfterValidator(_check_window)] = "22:00-07:00"  # "": none
    timezone: Annotated[str | None, AfterValidator(_check_zone)] = None  # None: the system's
    include_body: bool = False  # true: a short excerpt of each message (or draft, question)
    send_timeout_seconds: float = Field(default=20.0, gt=0)  # per channel and alert
    desktop: Literal["auto", "on", "off"] = "auto"  # auto: when a session bus is there
    command: Annotated[list[str], AfterValidator(_check_command)] = Field(default_factory=list)
    command_timeout_seconds: float = Field(default=10.0, gt=0)
    http: HttpAlertSettings | None = None
    digest: Annotated[list[str], AfterValidator(_check_times)] = Field(default_factory=list)
    digest_to: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")  # None: own

    @property
    def quiet_window(self) -> Window | None:
        return parse_window(self.quiet_hours) if self.quiet_hours.strip() else None

    @property
    def digest_times(self) -> list[time]:
        return sorted({parse_clock_time(value) for value in self.digest})
