"""Calendar invites as Google, Outlook and Apple Mail send them (shapes copied from real mail,
names and ids made up), a cancellation, and malformed ones: the fixtures of the calendar tests.

- ``google_timed.eml``: a timed event with ``TZID=Europe/Berlin``, inline ``text/calendar`` and
  the same invite again as an ``invite.ics`` attachment (base64), three attendees
- ``outlook_recurring.eml``: Exchange's Windows time zone (``Pacific Standard Time`` with its
  VTIMEZONE), a weekly RRULE until June, SEQUENCE 2, the part base64-encoded
- ``apple_all_day.eml``: an all-day event over three days, an ``invite.ics`` attachment (QP)
- ``google_cancel.eml``: ``METHOD:CANCEL`` of the Google event
- ``malformed_garbage.eml``: a ``text/calendar`` part with a line that is not iCalendar
- ``malformed_start.eml``: a ``meeting.ics`` attachment whose DTSTART is not a date
"""

from __future__ import annotations

from pathlib import Path

INVITES = Path(__file__).parent


def invite(name: str) -> bytes:
    """The raw bytes of one sample (CRLF line ends, as mail has them)."""
    return (INVITES / f"{name}.eml").read_bytes()
