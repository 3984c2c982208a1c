"""Calendar invites in email: a ``text/calendar`` part read into the event it holds (what,
when, where, who), which the prompt, the TUI and the CLI show.

An invite is untrusted input like the rest of the message, read with the ``icalendar`` library,
and reading never raises: a part that cannot be read (not iCalendar, no event in it, an event
without a UID or a start, a property ambient reads that does not parse) becomes a problem line,
``calendar part could not be read: …``, which the prompt and the TUI show; the raw part stays
in the stored message. Parts are found by type (``text/calendar``, ``application/ics``) or by an
``.ics`` file name; Google sends the same invite twice (inline and as ``invite.ics``): it is one.
The event in words is :mod:`ambient.core.calendar_text`; the reply that answers an invite,
:mod:`ambient.core.itip`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import Message
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a part is read: most mail has none, and it takes a while
    import icalendar

MAX_PART_CHARS = 1_000_000  # a bigger "invite" is not read (it is kept, and reported)
TEXT_MAX_CHARS = 200  # a summary, a location, a name, as kept
CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})
# What icalendar raises on bytes it cannot read (its own errors are ValueErrors).
READ_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)
# The event's properties ambient reads: one of them broken makes the part unreadable.
_READ = frozenset(
    {"UID", "SEQUENCE", "DTSTART", "DTEND", "DURATION", "SUMMARY", "LOCATION", "ORGANIZER"}
    | {"ATTENDEE", "RRULE", "STATUS", "RECURRENCE-ID"}
)


class UnreadableCalendar(ValueError):
    """A calendar part ambient cannot read (the message says why)."""


@dataclass(frozen=True)
class Attendee:
    address: str  # bare, lower-case ("" when the line names none)
    name: str = ""
    status: str = "NEEDS-ACTION"  # its PARTSTAT

    @property
    def label(self) -> str:
        """Who it is, compactly: the name when it says more than the address."""
        return self.name if self.name and self.name.lower() != self.address else self.address


@dataclass(frozen=True)
class CalendarInvite:
    """The event a calendar part holds (its main event: not an override of one occurrence)."""

    method: str  # REQUEST, CANCEL, REPLY, PUBLISH, … ("" when the part has none)
    uid: str
    sequence: int
    summary: str
    start: date | datetime  # a date for an all-day event
    end: date | datetime | None  # all-day: the day after the last one (iCalendar's DTEND)
    timezone: str  # the start's TZID as written, "UTC", or "" (floating time, all day)
    location: str
    organizer: str  # bare lower-case address ("" when none)
    organizer_name: str
    attendees: tuple[Attendee, ...]
    rrules: tuple[str, ...]  # its RRULEs as written ("FREQ=WEEKLY;BYDAY=MO"); none: it is once
    status: str  # CONFIRMED, TENTATIVE, CANCELLED, ""
    ics: str = field(default="", repr=False, compare=False)  # the part's text (for the reply)

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)

    @property
    def cancelled(self) -> bool:
        return self.method == "CANCEL" or self.status == "CANCELLED"

    @property
    def answerable(self) -> bool:
        """An invitation the user can accept, decline or answer tentatively."""
        return self.method == "REQUEST" and not self.cancelled and bool(self.organizer)

    def attendee(self, addresses: frozenset[str]) -> Attendee | None:
        """The first attendee line with one of `addresses` (lower-case)."""
        return next((a for a in self.attendees if a.address in addresses), None)

    def as_json(self) -> dict[str, Any]:
        """The event with stable keys (``--json``)."""
        return {
            "method": self.method,
            "uid": self.uid,
            "sequence": self.sequence,
            "summary": self.summary,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end is not None else None,
            "all_day": self.all_day,
            "timezone": self.timezone,
            "location": self.location,
            "organizer": {"address": self.organizer, "name": self.organizer_name},
            "attendees": [
                {"address": a.address, "name": a.name, "status": a.status} for a in self.attendees
            ],
            "rrules": list(self.rrules),
            "status": self.status,
        }


# ---- finding and reading parts -----------------------------------------------------------
def is_calendar_part(part: Message) -> bool:
    try:
        filename = part.get_filename() or ""
    except (ValueError, TypeError, LookupError, AttributeError):  # a malformed header
        filename = ""
    return part.get_content_type() in CALENDAR_TYPES or filename.lower().endswith(".ics")


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", errors="replace")


def invite_in(message: Message) -> tuple[CalendarInvite | None, list[str]]:
    """The invite of the message's first readable calendar part, and one line for each part
    that could not be read (or that holds a second, different invite, which is not shown)."""
    invite: CalendarInvite | None = None
    problems: list[str] = []
    for part in message.walk():
        if part.is_multipart() or not is_calendar_part(part):
            continue
        try:
            found = read_invite(_part_text(part))
        except UnreadableCalendar as error:
            problems.append(f"calendar part could not be read: {error}")
            continue
        except (*READ_ERRORS, LookupError, AssertionError) as error:  # its MIME headers
            problems.append(f"calendar part could not be read: {_reason(error)}")
            continue
        if invite is None:
            invite = found
        elif (found.uid, found.sequence, found.method) != (
            invite.uid,
            invite.sequence,
            invite.method,
        ):
            problems.append(f"a second calendar event is not shown: {found.summary or found.uid}")
    return invite, problems


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:TEXT_MAX_CHARS] + ("…" if len(text) > TEXT_MAX_CHARS else "")


def read_invite(text: str) -> CalendarInvite:
    """The main event of one calendar part; UnreadableCalendar saying why it cannot be read."""
    if len(text) > MAX_PART_CHARS:
        raise UnreadableCalendar(f"{len(text)} characters, more than the {MAX_PART_CHARS} read")
    if not text.strip():
        raise UnreadableCalendar("the part is empty")
    import icalendar

    try:
        calendar = icalendar.Calendar.from_ical(text)
        if calendar.name != "VCALENDAR":
            raise UnreadableCalendar(f"not a VCALENDAR but a {calendar.name}")
        return _invite(calendar, main_event(calendar), text)
    except READ_ERRORS as error:  # UnreadableCalendar is a ValueError too
        raise UnreadableCalendar(_reason(error)) from None


def main_event(calendar: icalendar.Component) -> icalendar.Event:
    """The event a part is about: the first without a RECURRENCE-ID (an override of one
    occurrence), else the first."""
    import icalendar

    events = [event for event in calendar.walk("VEVENT") if isinstance(event, icalendar.Event)]
    if not events:
        raise UnreadableCalendar("no event (VEVENT) in it")
    return next((event for event in events if "RECURRENCE-ID" not in event), events[0])


def _text(value: Any) -> str:
    text = " ".join(str(value or "").split())
    return text[:TEXT_MAX_CHARS] + ("…" if len(text) > TEXT_MAX_CHARS else "")


def address_of(value: Any) -> str:
    """The bare lower-case address of a ``mailto:`` value ("" when it holds none)."""
    address = re.sub(r"(?i)^\s*mailto:", "", str(value or "")).strip().lower()
    return address if "@" in address and not re.search(r"[\s<>\"]", address) else ""


def _people(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value] if value is not None else []


def _param(value: Any, name: str) -> str:
    params = getattr(value, "params", None) or {}
    return _text(params.get(name, ""))


def _zone(event: icalendar.Component, start: date | datetime) -> str:
    tzid = _param(event["DTSTART"], "TZID")
    if tzid:
        return tzid
    if isinstance(start, datetime) and start.tzinfo is not None:
        return "UTC" if start.utcoffset() == timedelta(0) else str(start.tzinfo)
    return ""


def _invite(calendar: icalendar.Component, event: icalendar.Event, text: str) -> CalendarInvite:
    for name, reason in event.errors:
        if (name or "").upper() in _READ:
            raise UnreadableCalendar(f"{name}: {reason}")
    uid = str(event.get("UID") or "").strip()
    if not uid:
        raise UnreadableCalendar("the event has no UID")
    if "DTSTART" not in event:
        raise UnreadableCalendar("the event has no start (DTSTART)")
    start = event.start
    end = event.end if ("DTEND" in event or "DURATION" in event) else None
    organizer = event.get("ORGANIZER")
    attendees = tuple(
        Attendee(
            address_of(line), _param(line, "CN"), _param(line, "PARTSTAT").upper() or "NEEDS-ACTION"
        )
        for line in _people(event.get("ATTENDEE"))
    )
    return CalendarInvite(
        method=_text(calendar.get("METHOD")).upper(),
        uid=uid,
        sequence=int(event.sequence),
        summary=_text(event.get("SUMMARY")),
        start=start,
        end=end,
        timezone=_zone(event, start),
        location=_text(event.get("LOCATION")),
        organizer=address_of(organizer),
        organizer_name=_param(organizer, "CN") if organizer is not None else "",
        attendees=attendees,
        rrules=tuple(
            rule.to_ical().decode("utf-8", "replace") for rule in _people(event.get("RRULE"))
        ),
        status=_text(event.get("STATUS")).upper(),
        ics=text,
    )
