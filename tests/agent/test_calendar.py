"""Calendar invites in mail: read from Google/Outlook/Apple-shaped samples, shown to the model
and drafted as accept / decline / tentative; broken ones are reported, never fatal. (The TUI and
the CLI showing them: tests/tui/test_calendar.py.)"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from ambient.agent.processor import AgentProcessor
from ambient.agent.prompt import render_email
from ambient.approvals.tables import ApprovalStatus
from ambient.core.calendar import Attendee
from ambient.core.calendar_text import event_lines, recurrence_text, when_text
from ambient.core.items import ItemState
from ambient.core.message import parse_message
from tests.agent.conftest import claim_one, item_from, meeting_email
from tests.agent.invites import invite
from tests.agent.scripted import Script, call, respond, tool_returns, triage


# ---- reading -------------------------------------------------------------------------------
def test_a_google_invite_is_one_event_with_its_time_zone_and_each_attendees_answer() -> None:
    message = parse_message(invite("google_timed"))
    event = message.calendar
    assert event is not None and message.part_problems == []
    assert (event.method, event.uid, event.sequence) == (
        "REQUEST",
        "7kukuqrfedlm2f0u1mfk4bqbvs@google.com",
        0,
    )
    assert event.summary == "Q3 planning" and event.location == "Room 4.2, Main building"
    assert isinstance(event.start, datetime) and event.timezone == "Europe/Berlin"
    assert event.start.astimezone(UTC) == datetime(2027, 1, 12, 13, 0, tzinfo=UTC)
    assert event.end is not None and event.end.astimezone(UTC).hour == 14
    assert (event.organizer, event.organizer_name) == ("dana@example.com", "Dana Scully")
    assert event.attendees == (
        Attendee("dana@example.com", "Dana Scully", "ACCEPTED"),
        Attendee("me@example.com", "me@example.com", "NEEDS-ACTION"),
        Attendee("lee@example.com", "Lee Park", "TENTATIVE"),
    )
    assert event.rrules == () and event.answerable
    # the same invite inline and as invite.ics is one event; the attachment is still listed
    assert [a.filename for a in message.attachments] == ["invite.ics"]
    assert "You have been invited" in message.text


def test_an_outlook_invite_reads_its_windows_time_zone_and_weekly_rule() -> None:
    event = parse_message(invite("outlook_recurring")).calendar
    assert event is not None and event.sequence == 2 and event.uid.startswith("0400000082")
    assert event.timezone == "Pacific Standard Time"
    assert isinstance(event.start, datetime)
    assert event.start.astimezone(UTC) == datetime(2027, 3, 1, 17, 30, tzinfo=UTC)
    assert event.rrules == ("FREQ=WEEKLY;UNTIL=20270630T163000Z;INTERVAL=1;BYDAY=MO,WE;WKST=SU",)
    assert dict(event_lines(event)) == {
        "Event": "Budget review (updated invitation)",
        "When": "Mon 1 Mar 2027 09:30–10:15 (Pacific Standard Time)",
        "Repeats": "weekly on Mon, Wed until Wed 30 Jun 2027",
        "Where": "Microsoft Teams Meeting",
        "Organizer": "Walter Skinner <walter@corp.example>",
        "Attendees": "Robin Me (needs action), Fox Mulder (needs action)",
    }


def test_an_all_day_event_is_its_days_and_dtend_is_the_day_after() -> None:
    message = parse_message(invite("apple_all_day"))
    event = message.calendar
    assert event is not None and event.all_day
    assert (event.start, event.end, event.timezone) == (date(2027, 1, 15), date(2027, 1, 18), "")
    assert when_text(event) == "Fri 15 Jan 2027 – Sun 17 Jan 2027, all day"
    assert [a.filename for a in message.attachments] == ["invite.ics"]


def test_a_cancellation_is_shown_as_cancelled_and_cannot_be_answered() -> None:
    event = parse_message(invite("google_cancel")).calendar
    assert event is not None and (event.method, event.sequence, event.status) == (
        "CANCEL",
        1,
        "CANCELLED",
    )
    assert event.cancelled and not event.answerable
    assert event_lines(event)[0] == ("Event", "Q3 planning (cancelled)")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("malformed_garbage", "Invalid content line"),
        ("malformed_start", "DTSTART: Wrong datetime format"),
    ],
)
def test_a_malformed_calendar_part_is_reported_and_the_message_still_reads(
    name: str, why: str
) -> None:
    message = parse_message(invite(name))
    assert message.calendar is None
    (problem,) = message.part_problems
    assert problem.startswith("calendar part could not be read: ") and why in problem
    assert message.subject.startswith("Invitation: ") and message.text  # the rest is intact


@pytest.mark.parametrize(
    ("ics", "why"),
    [
        ("", "the part is empty"),
        ("BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n", "no event (VEVENT)"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20270101T100000Z\r\n", "no components"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR", "no UID"),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nSEQUENCE:two\r\nDTSTART:20270101\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n",
            "SEQUENCE",
        ),
    ],
)
def test_what_cannot_be_read_says_why(ics: str, why: str) -> None:
    raw = (
        b"From: dana@example.com\r\nSubject: x\r\nContent-Type: text/calendar; method=REQUEST\r\n"
        b"\r\n" + ics.encode()
    )
    message = parse_message(raw)
    assert message.calendar is None and why in message.part_problems[0]


def test_calendar_parts_mangled_at_random_never_break_parsing() -> None:
    raw = invite("google_timed")
    start, end = raw.index(b"BEGIN:VCALENDAR"), raw.index(b"END:VCALENDAR")
    rng = random.Random(15)
    read = reported = 0
    for _ in range(300):
        mangled = bytearray(raw)
        for _ in range(rng.randint(1, 12)):
            mangled[rng.randrange(start, end)] = rng.choice(b":;,=\r\n\\ \x00\xff" + b"AZ09")
        message = parse_message(bytes(mangled))  # never raises
        assert message.subject.startswith("Invitation: Q3 planning")
        read += message.calendar is not None
        reported += bool(message.part_problems)
    assert read and reported  # both outcomes happen: each part is read or reported


@pytest.mark.parametrize(
    ("rrule", "words"),
    [
        ("FREQ=DAILY", "daily"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=10", "every 2 weeks on Tue, Thu, 10 times"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "monthly on last Fri"),
        ("FREQ=MONTHLY;BYDAY=1MO;UNTIL=20271231", "monthly on 1st Mon until Fri 31 Dec 2027"),
        ("FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=14", "yearly on day 14 in Mar"),
        ("FREQ=MONTHLY;BYSETPOS=2;BYDAY=TU", "FREQ=MONTHLY;BYSETPOS=2;BYDAY=TU"),  # as written
        ("FREQ=FORTNIGHTLY", "FREQ=FORTNIGHTLY"),
    ],
)
def test_a_recurrence_rule_is_shown_in_words_or_as_written(rrule: str, words: str) -> None:
    assert recurrence_text(rrule) == words


# ---- the model's view ----------------------------------------------------------------------
def test_the_prompt_shows_the_event_inside_the_untrusted_frame() -> None:
    framed = render_email(item_from(invite("google_timed")), 4000)
    calendar = framed.index("Calendar invite (from the message's calendar part):")
    assert framed.index("<untrusted_email") < calendar < framed.index("</untrusted_email>")
    assert "  Event: Q3 planning (invitation)" in framed
    assert "  When: Tue 12 Jan 2027 14:00–15:00 (Europe/Berlin)" in framed
    assert "  Attendees: Dana Scully (accepted), me@example.com (needs action)" in framed
    broken = render_email(item_from(invite("malformed_start")), 4000)
    assert "Note: calendar part could not be read: DTSTART:" in broken
    assert "Calendar invite" not in broken


async def test_the_agent_drafts_an_acceptance_addressed_to_the_organizer(
    make_agent, queue, ledger
) -> None:
    script = Script(
        respond(
            call(
                "calendar_reply",
                response="accept",
                comment="See you there.",
                rationale="Dana invited you to the Q3 planning and the calendar is free.",
            ),
            triage("act", "an invitation to answer", "Q3 planning on Tue"),
        )
    )
    processor = AgentProcessor(make_agent(script.model), queue)
    claimed = claim_one(ledger, invite("google_timed"))
    outcome = await processor.process(claimed)
    assert outcome.state == ItemState.AWAITING_APPROVAL
    (row,) = queue.list(item_id=claimed.id)
    assert row.kind == "calendar_reply" and row.status == ApprovalStatus.PENDING
    assert row.args == {
        "response": "accept",
        "organizer": "dana@example.com",
        "comment": "See you there.",
    }
    assert row.warnings == [] and row.block_reason is None
    # the model is shown only the response and a comment: the organizer is the invite's
    (tool,) = [tool for tool in script.infos[0].function_tools if tool.name == "calendar_reply"]
    assert set(tool.parameters_json_schema["properties"]) == {"response", "comment", "rationale"}


@pytest.mark.parametrize(
    ("raw", "told"),
    [
        (meeting_email(), "the message holds no calendar invitation"),
        (invite("google_cancel"), "its calendar part cannot be answered (cancelled)"),
    ],
)
async def test_a_calendar_reply_without_an_invitation_to_answer_goes_back_to_the_model(
    make_agent, queue, ledger, raw: bytes, told: str
) -> None:
    script = Script(
        respond(call("calendar_reply", response="accept", rationale="accept it")),
        respond(triage("notify", "nothing to answer", "an update")),
    )
    processor = AgentProcessor(make_agent(script.model), queue)
    claimed = claim_one(ledger, raw)
    outcome = await processor.process(claimed)
    assert outcome.state == ItemState.DONE and queue.list(item_id=claimed.id) == []
    (retried,) = tool_returns(script.requests[1])  # the model is told why, and tries again
    assert retried.tool_name == "calendar_reply" and told in str(retried.content)


async def test_the_demo_model_leaves_invites_alone(runtime, ledger, memory) -> None:
    claimed = claim_one(ledger, invite("google_timed"))
    outcome = await runtime.processor.process(claimed)  # AMBIENT_MODEL=test
    assert outcome.state in (ItemState.AWAITING_APPROVAL, ItemState.DONE)
    kinds = {row.kind for row in runtime.queue.list(item_id=claimed.id)}
    assert "calendar_reply" not in kinds
