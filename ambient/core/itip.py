"""The iTIP reply (RFC 5546, ``METHOD:REPLY``) that accepts, declines or tentatively accepts an
invitation, and the words of the email that carries it.

The reply is built from the request itself, never from anything a model wrote: the request's
UID, SEQUENCE, ORGANIZER, start, end, summary and (for one occurrence) RECURRENCE-ID, the time
zones they refer to, one ATTENDEE line — the user's, with the request's parameters for it and
the new PARTSTAT — an optional COMMENT, and a DTSTAMP from the clock passed in.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ambient.core.calendar import CalendarInvite, address_of, main_event
from ambient.core.calendar_text import event_lines
from ambient.core.clock import utc

if TYPE_CHECKING:  # imported when a reply is built (as ambient.core.calendar does)
    import icalendar

Response = Literal["accept", "decline", "tentative"]
PARTSTATS: dict[str, str] = {"accept": "ACCEPTED", "decline": "DECLINED", "tentative": "TENTATIVE"}
_SUBJECT_WORDS = {"accept": "Accepted", "decline": "Declined", "tentative": "Tentative"}
_VERBS = {"accept": "accepted", "decline": "declined", "tentative": "tentatively accepted"}
PRODID = "-//ambient//calendar reply//EN"
_COPIED = ("UID", "ORGANIZER", "RECURRENCE-ID", "DTSTART", "DTEND", "DURATION", "SUMMARY")
_ABOUT = frozenset({"Event", "When", "Repeats", "Where"})  # the event, in the plain-text part
_ANSWERED = frozenset({"PARTSTAT", "RSVP", "CN"})  # the request's, replaced by the answer's


def _attendee_line(
    event: icalendar.Component, address: str, name: str, response: Response
) -> icalendar.vCalAddress:
    import icalendar

    line = icalendar.vCalAddress(f"mailto:{address}")
    lines = event.get("ATTENDEE")
    for requested in lines if isinstance(lines, list) else [lines] if lines is not None else []:
        if address_of(requested) == address:  # keep what the request said of the user (ROLE…)
            for key, value in requested.params.items():
                if key.upper() not in _ANSWERED:
                    line.params[key] = value
            name = name or str(requested.params.get("CN", ""))
            break
    if name:
        line.params["CN"] = name
    line.params["PARTSTAT"] = PARTSTATS[response]
    return line


def itip_reply(
    invite: CalendarInvite,
    response: Response,
    *,
    attendee: str,
    attendee_name: str,
    comment: str,
    now: datetime,
) -> str:
    """The REPLY to `invite` from `attendee` (a bare address), as iCalendar text."""
    import icalendar

    request = icalendar.Calendar.from_ical(invite.ics)
    event = main_event(request)
    reply = icalendar.Calendar()
    reply.add("prodid", PRODID)
    reply.add("version", "2.0")
    reply.add("method", "REPLY")
    for zone in request.walk("VTIMEZONE"):  # what DTSTART;TZID=… refers to
        reply.add_component(zone)
    answer = icalendar.Event()
    for name in _COPIED:
        if name in event:
            answer[name] = event[name]
    answer.add("sequence", invite.sequence)
    answer.add("dtstamp", utc(now))
    answer.add("attendee", _attendee_line(event, attendee, attendee_name, response))
    if comment.strip():
        answer.add("comment", comment.strip())
    reply.add_component(answer)
    return bytes(reply.to_ical()).decode("utf-8")


def reply_subject(invite: CalendarInvite, response: Response) -> str:
    """`Accepted: Q3 planning`, as calendar programs write it."""
    return f"{_SUBJECT_WORDS[response]}: {invite.summary or 'your invitation'}"


def reply_text(invite: CalendarInvite, response: Response, who: str, comment: str) -> str:
    """The plain-text part: who answered what, the event, and the comment."""
    lines = [f"{who} has {_VERBS[response]} this invitation.", ""]
    lines += [f"{label}: {value}" for label, value in event_lines(invite) if label in _ABOUT]
    if comment.strip():
        lines += ["", comment.strip()]
    return "\n".join(lines) + "\n"
