"""calendar_reply: an approved answer to an invitation reaches the organizer once, over a real
SMTP server (aiosmtpd), as an iTIP REPLY built from the request and threaded under it; the
policy gate's email rules apply to it; a reply that cannot be built is refused, never guessed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any

import icalendar
import pytest
from sqlalchemy import Engine

from ambient.approvals.drafts import DraftedAction
from ambient.approvals.executors.mail import message_id_for
from ambient.approvals.kinds import KINDS, build_executors
from ambient.approvals.outbox import Outbox
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.calendar import read_invite
from ambient.core.config import Secrets, Settings
from ambient.core.items import InboundItem, ItemState
from ambient.core.itip import itip_reply
from ambient.core.ledger import Ledger
from ambient.core.message import content_digest, parse_message
from tests.agent.invites import invite
from tests.approvals.conftest import THREAD_START
from tests.approvals.test_provenance import context_for
from tests.approvals.test_smtp import _crash_mid_execution
from tests.conftest import FrozenClock
from tests.servers.dovecot import ImapAccount
from tests.servers.smtp import ReceivedMessage, SmtpServer

GOOGLE_UID = "7kukuqrfedlm2f0u1mfk4bqbvs@google.com"
GOOGLE_INVITE_ID = "<calendar-1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901@google.com>"


@pytest.fixture
def mail_settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    settings.smtp = smtp_server.settings(from_address="me@example.com")
    settings.user_name = "Robin Me"
    return settings


@pytest.fixture
def approvals(engine: Engine, clock: FrozenClock, mail_settings: Settings) -> ApprovalQueue:
    return ApprovalQueue(engine, clock, mail_settings, PolicyGate.from_settings(mail_settings))


def _outbox(engine: Engine, clock: FrozenClock, settings: Settings, secrets: Secrets) -> Outbox:
    """The outbox with every kind's executor, as the runtime builds them."""
    executors: dict[str, Any] = build_executors(settings, secrets, engine, clock)
    policy = PolicyGate.from_settings(settings)
    return Outbox(engine, clock, settings, secrets, policy, executors, owner="test")


@pytest.fixture
def outbox(engine: Engine, clock: FrozenClock, mail_settings: Settings, secrets: Secrets) -> Outbox:
    return _outbox(engine, clock, mail_settings, secrets)


def _drafted(
    approvals: ApprovalQueue,
    ledger: Ledger,
    raw: bytes,
    response: str = "accept",
    comment: str = "",
    *,
    source: str = "inbox",
) -> Approval:
    item_id = ledger.ingest(InboundItem(source, f"key-{content_digest(raw)[:8]}", raw)).item_id
    ledger.set_state(item_id, ItemState.AWAITING_APPROVAL)
    organizer = parse_message(raw).calendar
    args = {
        "response": response,
        "organizer": organizer.organizer if organizer else "dana@example.com",
        "comment": comment,
    }
    (row,) = approvals.queue_drafts(
        context=context_for(ledger, item_id),  # with the sender, as the agent gives it
        trace_id="c" * 32,
        run_state=None,
        drafts=[DraftedAction("calendar_reply", "call-1", args, "The calendar is free.")],
    )
    return row


def _approved(approvals: ApprovalQueue, row: Approval) -> Approval:
    return approvals.approve(row.id, shown_hash=row.shown_hash, actor="me")


def _parts(received: ReceivedMessage) -> tuple[EmailMessage, str, icalendar.Calendar]:
    """The received message, its plain text and its calendar part (parsed back by icalendar)."""
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    plain, calendar = list(message.iter_parts())
    assert plain.get_content_type() == "text/plain"
    assert calendar.get_content_type() == "text/calendar"
    assert calendar.get_param("method") == "REPLY"
    assert isinstance(plain, EmailMessage) and isinstance(calendar, EmailMessage)
    body = str(plain.get_content()).replace("\r\n", "\n")
    return message, body, icalendar.Calendar.from_ical(str(calendar.get_content()))


def _event(reply: icalendar.Calendar) -> icalendar.Event:
    (event,) = reply.walk("VEVENT")
    assert isinstance(event, icalendar.Event)
    return event


# ---- sending -------------------------------------------------------------------------------
async def test_an_accepted_invitation_reaches_the_organizer_once_as_a_threaded_itip_reply(
    approvals: ApprovalQueue,
    ledger: Ledger,
    outbox: Outbox,
    smtp_server: SmtpServer,
    clock: FrozenClock,
):
    row = _approved(approvals, _drafted(approvals, ledger, invite("google_timed"), "accept"))
    assert await outbox.tick() == 1
    assert await outbox.tick() == 0
    (received,) = smtp_server.messages
    assert received.recipients == ["dana@example.com"]
    message, body, reply = _parts(received)
    assert message["From"] == "Robin Me <me@example.com>" and message["To"] == "dana@example.com"
    assert message["Subject"] == "Accepted: Q3 planning"
    assert message["In-Reply-To"] == GOOGLE_INVITE_ID
    assert message["References"] == GOOGLE_INVITE_ID
    assert message["Message-ID"] == message_id_for(row.idempotency_key or "", "me@example.com")
    assert body.startswith("Robin Me has accepted this invitation.\n\nEvent: Q3 planning")
    assert "When: Tue 12 Jan 2027 14:00–15:00 (Europe/Berlin)" in body
    # the REPLY, parsed back: the request's UID and SEQUENCE, only the user's ATTENDEE line
    assert reply["METHOD"] == "REPLY"
    event = _event(reply)
    assert (str(event["UID"]), event.sequence) == (GOOGLE_UID, 0)
    assert event.stamp == clock.now()
    assert str(event["ORGANIZER"]) == "mailto:dana@example.com"
    (attendee,) = event.attendees
    assert str(attendee) == "mailto:me@example.com"
    assert attendee.params["PARTSTAT"] == "ACCEPTED" and attendee.params["CN"] == "Robin Me"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT" and "RSVP" not in attendee.params
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event.start.astimezone(UTC) == datetime(2027, 1, 12, 13, 0, tzinfo=UTC)
    assert [str(zone["TZID"]) for zone in reply.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert "COMMENT" not in event
    executed = approvals.get(row.id)
    assert executed.status == ApprovalStatus.EXECUTED and executed.delivery_stage == "sent"
    assert executed.result is not None
    assert executed.result["response"] == "accept" and executed.result["uid"] == GOOGLE_UID


async def test_declining_a_recurring_outlook_invite_keeps_its_sequence_zone_and_comment(
    approvals: ApprovalQueue, ledger: Ledger, outbox: Outbox, smtp_server: SmtpServer
):
    raw = invite("outlook_recurring")
    _approved(approvals, _drafted(approvals, ledger, raw, "decline", "Away in March, sorry."))
    await outbox.tick()
    (received,) = smtp_server.messages
    message, body, reply = _parts(received)
    assert received.recipients == ["walter@corp.example"]
    assert message["Subject"] == "Declined: Budget review"
    assert message["In-Reply-To"] == parse_message(raw).message_id
    assert "Repeats: weekly on Mon, Wed until Wed 30 Jun 2027" in body
    assert body.endswith("\nAway in March, sorry.\n")
    event = _event(reply)
    assert event.sequence == 2 and str(event["UID"]) == parse_message(raw).calendar.uid  # type: ignore[union-attr]
    (attendee,) = event.attendees
    assert attendee.params["PARTSTAT"] == "DECLINED"
    assert str(event["COMMENT"]) == "Away in March, sorry."
    assert event["DTSTART"].params["TZID"] == "Pacific Standard Time"
    assert event.start.astimezone(UTC) == datetime(2027, 3, 1, 17, 30, tzinfo=UTC)
    assert [str(zone["TZID"]) for zone in reply.walk("VTIMEZONE")] == ["Pacific Standard Time"]


async def test_a_tentative_answer_to_an_all_day_event_keeps_its_dates(
    approvals: ApprovalQueue, ledger: Ledger, outbox: Outbox, smtp_server: SmtpServer
):
    _approved(approvals, _drafted(approvals, ledger, invite("apple_all_day"), "tentative"))
    await outbox.tick()
    (received,) = smtp_server.messages
    message, body, reply = _parts(received)
    assert message["Subject"] == "Tentative: Team offsite"
    assert body.startswith("Robin Me has tentatively accepted this invitation.")
    event = _event(reply)
    assert (event.start, event.end) == (date(2027, 1, 15), date(2027, 1, 18))
    assert event.attendees[0].params["PARTSTAT"] == "TENTATIVE"


async def test_the_human_can_change_the_answer_before_it_is_sent(
    approvals: ApprovalQueue, ledger: Ledger, outbox: Outbox, smtp_server: SmtpServer
):
    row = _drafted(approvals, ledger, invite("google_timed"), "accept")
    kind = KINDS.of("calendar_reply")
    edited = kind.from_text(
        kind.to_text(row.args).replace("Response: accept", "Response: decline") + "Sorry!\n"
    )
    approvals.edit(row.id, shown_hash=row.shown_hash, args=edited, actor="me")
    await outbox.tick()
    (received,) = smtp_server.messages
    _message, _body, reply = _parts(received)
    event = _event(reply)
    assert event.attendees[0].params["PARTSTAT"] == "DECLINED"
    assert str(event["COMMENT"]) == "Sorry!"


async def test_a_crash_after_the_server_accepted_the_reply_does_not_send_it_again(
    approvals: ApprovalQueue,
    ledger: Ledger,
    outbox: Outbox,
    smtp_server: SmtpServer,
    engine: Engine,
    clock: FrozenClock,
    mail_settings: Settings,
):
    row = _approved(approvals, _drafted(approvals, ledger, invite("google_timed")))
    await outbox.tick()
    _crash_mid_execution(engine, row.id, clock, "sent")
    clock.advance(seconds=mail_settings.outbox.lease_seconds)
    assert await outbox.tick() == 1
    assert len(smtp_server.messages) == 1
    result = approvals.get(row.id).result
    assert result is not None and result["recovered"] == "already accepted by the server"


@pytest.mark.slow
async def test_from_an_imap_account_the_sent_folder_decides_after_a_crash_during_data(
    settings: Settings,
    secrets: Secrets,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    engine: Engine,
    clock: FrozenClock,
    ledger: Ledger,
):
    smtp = smtp_server.settings(from_address="me@example.com")
    settings.sources = [imap_account.settings(smtp=smtp, address="me@example.com")]
    account_secrets = Secrets({"TEST_IMAP_PASSWORD": imap_account.password})
    queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
    outbox = _outbox(engine, clock, settings, account_secrets)
    row = _approved(
        queue, _drafted(queue, ledger, invite("google_timed"), source=settings.sources[0].name)
    )
    await outbox.tick()
    (received,) = smtp_server.messages
    assert queue.get(row.id).result["sent_copy"] == "appended"  # type: ignore[index]
    # killed during DATA: the Message-ID is in the Sent folder, so it counts as sent, once
    _crash_mid_execution(engine, row.id, clock, "sending")
    clock.advance(seconds=settings.outbox.lease_seconds)
    assert await outbox.tick() == 1
    assert len(smtp_server.messages) == 1
    result = queue.get(row.id).result
    assert result is not None and result["recovered"] == "found in the Sent folder"
    assert result["message_id"] == received.message["Message-ID"]


# ---- the policy gate and what cannot be answered -----------------------------------------
def test_an_organizer_on_another_domain_than_the_sender_is_a_warning(
    approvals: ApprovalQueue, ledger: Ledger
):
    raw = invite("google_timed").replace(
        b"ORGANIZER;CN=Dana Scully:mailto:dana@example.com",
        b"ORGANIZER;CN=Dana Scully:mailto:dana@elsewhere.example",
    )
    row = _drafted(approvals, ledger, raw)
    assert row.args["organizer"] == "dana@elsewhere.example"
    assert row.status == ApprovalStatus.PENDING and row.block_reason is None
    assert [warning.split(":")[0] for warning in row.warnings] == [
        "organizer_outside_thread",
        "reply_to_mismatch",
    ]
    assert "another domain than the sender's" in row.warnings[1]


def test_a_denied_domain_blocks_the_reply(
    approvals: ApprovalQueue, ledger: Ledger, mail_settings: Settings
):
    mail_settings.policy.denied_domains = ["corp.example"]
    queue = ApprovalQueue(
        approvals.engine, approvals.clock, mail_settings, PolicyGate.from_settings(mail_settings)
    )
    row = _drafted(queue, ledger, invite("outlook_recurring"))
    assert row.status == ApprovalStatus.BLOCKED
    assert row.block_reason == "denied_domain: walter@corp.example: domain corp.example is denied"


async def test_an_approval_on_an_item_without_an_invitation_goes_dead_with_the_reason(
    approvals: ApprovalQueue, ledger: Ledger, outbox: Outbox, smtp_server: SmtpServer
):
    row = _approved(approvals, _drafted(approvals, ledger, THREAD_START))
    await outbox.tick()
    dead = approvals.get(row.id)
    assert dead.status == ApprovalStatus.DEAD and smtp_server.messages == []
    assert dead.last_error is not None and dead.last_error.endswith(
        "cannot answer the invitation: the message holds no calendar invitation"
    )


def test_its_text_form_reads_like_the_reply_it_sends():
    kind = KINDS.of("calendar_reply")
    args = {"response": "tentative", "organizer": "dana@example.com", "comment": "Maybe late."}
    assert kind.to_text(args) == (
        "Response: tentative\nOrganizer: dana@example.com\n\nMaybe late.\n"
    )
    assert kind.from_text(kind.to_text(args)) == args
    assert (
        kind.headline(args) == "to dana@example.com: tentatively accept the invitation: Maybe late."
    )
    assert kind.recipients(args) == {"dana@example.com"}
    assert kind.autonomy_scope(args) == "dana@example.com"


def test_the_reply_to_one_occurrence_names_that_occurrence(clock: FrozenClock):
    series = parse_message(invite("outlook_recurring")).calendar
    assert series is not None
    event = read_invite(  # Outlook's invitation to the Wednesday 3 March occurrence only
        series.ics.replace(
            "BEGIN:VEVENT\r\n",
            "BEGIN:VEVENT\r\nRECURRENCE-ID;TZID=Pacific Standard Time:20270303T093000\r\n",
        )
    )
    reply = icalendar.Calendar.from_ical(
        itip_reply(
            event,
            "accept",
            attendee="me@example.com",
            attendee_name="",
            comment="",
            now=clock.now(),
        )
    )
    answered = _event(reply)
    assert answered["RECURRENCE-ID"].dt.astimezone(UTC) == datetime(2027, 3, 3, 17, 30, tzinfo=UTC)
    (attendee,) = answered.attendees
    assert attendee.params["CN"] == "Robin Me"  # the request's name for the user, kept
