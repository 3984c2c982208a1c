"""A calendar invite in words, compact enough for 80 columns: what it is, when (in the event's
own time zone, all-day events as days), how it repeats (an RRULE in words, or as written when
it has none), where, and who (the organizer, the attendees and their answers).

The prompt, the TUI, the CLI and the plain-text part of a reply all read these same lines.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from ambient.core.calendar import READ_ERRORS, CalendarInvite

ATTENDEES_SHOWN = 5
PARTSTAT_WORDS = {
    "NEEDS-ACTION": "needs action",
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "DELEGATED": "delegated",
}
_METHOD_WORDS = {
    "REQUEST": "invitation",
    "CANCEL": "cancelled",
    "REPLY": "a reply",
    "PUBLISH": "published",
    "COUNTER": "a counter-proposal",
}


def _day(moment: date) -> str:
    return f"{moment:%a} {moment.day} {moment:%b %Y}"


def when_text(invite: CalendarInvite) -> str:
    """`Tue 12 Jan 2027 14:00–15:00 (Europe/Berlin)`, `Fri 15 Jan 2027, all day`."""
    start, end = invite.start, invite.end
    if not isinstance(start, datetime):
        last = start
        if isinstance(end, date) and not isinstance(end, datetime) and end > start:
            last = end - timedelta(days=1)  # DTEND is the day after the event
        return (
            f"{_day(start)}, all day" if last == start else f"{_day(start)} – {_day(last)}, all day"
        )
    zone = f" ({invite.timezone})" if invite.timezone else " (local time)"
    if not isinstance(end, datetime) or end <= start:
        return f"{_day(start)} {start:%H:%M}{zone}"
    if end.tzinfo is not None and start.tzinfo is not None:
        end = end.astimezone(start.tzinfo)
    if end.date() == start.date():
        return f"{_day(start)} {start:%H:%M}–{end:%H:%M}{zone}"
    return f"{_day(start)} {start:%H:%M} – {_day(end)} {end:%H:%M}{zone}"


_FREQUENCIES = {
    "DAILY": ("daily", "days"),
    "WEEKLY": ("weekly", "weeks"),
    "MONTHLY": ("monthly", "months"),
    "YEARLY": ("yearly", "years"),
}
_WEEKDAYS = {
    "MO": "Mon",
    "TU": "Tue",
    "WE": "Wed",
    "TH": "Thu",
    "FR": "Fri",
    "SA": "Sat",
    "SU": "Sun",
}
_ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th", -1: "last", -2: "2nd last"}
_WEEKDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
# the RRULE parts put in words (WKST, the week's first day, changes nothing they say)
_WORDED = frozenset(
    {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "COUNT", "UNTIL", "WKST"}
)
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def _weekday(value: Any) -> str:
    found = _WEEKDAY.match(str(value).upper())
    if found is None:
        raise ValueError(f"not a weekday: {value}")
    ordinal, day = found.groups()
    return f"{_ORDINALS[int(ordinal)]} {_WEEKDAYS[day]}" if ordinal else _WEEKDAYS[day]


def recurrence_text(rrule: str) -> str:
    """An RRULE in words (`weekly on Mon, Wed until Wed 30 Jun 2027`, `every 2 weeks, 10
    times`); one it has no words for is shown as written (`FREQ=MONTHLY;BYSETPOS=2;…`)."""
    import icalendar  # as ambient.core.calendar does: only for an invite

    try:
        rule = icalendar.vRecur.from_ical(rrule)
        parts = {str(key).upper(): list(values) for key, values in rule.items()}
        frequency = str(parts["FREQ"][0]).upper()
        if frequency not in _FREQUENCIES or set(parts) - _WORDED:
            return rrule
        interval = int(parts.get("INTERVAL", [1])[0])
        adverb, unit = _FREQUENCIES[frequency]
        words = [adverb if interval == 1 else f"every {interval} {unit}"]
        if "BYDAY" in parts:
            words.append("on " + ", ".join(_weekday(day) for day in parts["BYDAY"]))
        if "BYMONTHDAY" in parts:
            words.append("on day " + ", ".join(str(int(day)) for day in parts["BYMONTHDAY"]))
        if "BYMONTH" in parts:
            words.append("in " + ", ".join(_MONTHS[int(month) - 1] for month in parts["BYMONTH"]))
        if "UNTIL" in parts:
            words.append(f"until {_day(parts['UNTIL'][0])}")
        count = f", {int(parts['COUNT'][0])} times" if "COUNT" in parts else ""
        return " ".join(words) + count
    except READ_ERRORS:
        return rrule


def _person(address: str, name: str) -> str:
    if name and name.lower() != address:
        return f"{name} <{address}>" if address else name
    return address


def what_text(invite: CalendarInvite) -> str:
    """What the part is: an invitation (updated), a cancellation, a reply, …"""
    if invite.cancelled:
        return "cancelled"
    what = _METHOD_WORDS.get(invite.method, invite.method.lower() or "calendar event")
    return f"updated {what}" if invite.method == "REQUEST" and invite.sequence > 0 else what


def event_lines(invite: CalendarInvite) -> list[tuple[str, str]]:
    """`(Label, value)` lines, each short enough for 80 columns in the usual case: the event
    and what the part is, when, how it repeats, where, the organizer and the attendees."""
    lines = [
        ("Event", f"{invite.summary or '(no title)'} ({what_text(invite)})"),
        ("When", when_text(invite)),
    ]
    if invite.rrules:
        lines.append(("Repeats", "; ".join(recurrence_text(rule) for rule in invite.rrules)))
    if invite.location:
        lines.append(("Where", invite.location))
    organizer = _person(invite.organizer, invite.organizer_name)
    if organizer:
        lines.append(("Organizer", organizer))
    if invite.attendees:
        shown = [
            f"{a.label} ({PARTSTAT_WORDS.get(a.status, a.status.lower())})"
            for a in invite.attendees[:ATTENDEES_SHOWN]
        ]
        more = len(invite.attendees) - ATTENDEES_SHOWN
        lines.append(("Attendees", ", ".join(shown) + (f", +{more} more" if more > 0 else "")))
    return lines
