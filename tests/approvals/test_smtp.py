"""Replies over SMTP against a real aiosmtpd on loopback: once, threaded, the approved text."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from ambient.approvals.audit import AuditLog
from ambient.approvals.drafts import DraftedAction
from ambient.approvals.executors.smtp import SmtpExecutor
from ambient.approvals.journal import DeliveryJournal
from ambient.approvals.outbox import Outbox
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import Secrets, Settings
from ambient.core.errors import DecisionError
from ambient.core.items import ItemState
from ambient.core.ledger import Ledger
from tests.approvals.conftest import AddItem, context_for, reply
from tests.conftest import FrozenClock
from tests.servers.smtp import SmtpServer


@pytest.fixture
def mail_settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    settings.smtp = smtp_server.settings(from_address="me@example.com")
    settings.user_name = "Robin Me"
    settings.outbox.backoff_seconds = 10
    return settings


@pytest.fixture
def approvals(engine: Engine, clock: FrozenClock, mail_settings: Settings) -> ApprovalQueue:
    return ApprovalQueue(engine, clock, mail_settings, PolicyGate.from_settings(mail_settings))


@pytest.fixture
def outbox(engine: Engine, clock: FrozenClock, mail_settings: Settings, secrets: Secrets) -> Outbox:
    smtp = SmtpExecutor(engine, clock, mail_settings, secrets, DeliveryJournal(engine, clock))
    executors: dict[str, Any] = {"reply_email": smtp, "send_email": smtp}
    policy = PolicyGate.from_settings(mail_settings)
    return Outbox(engine, clock, mail_settings, secrets, policy, executors, owner="test")


@pytest.fixture
def approved_reply(approvals: ApprovalQueue, ledger: Ledger, add_item: AddItem) -> Approval:
    item_id = add_item()
    (row,) = approvals.queue_drafts(
        context=context_for(ledger, item_id),
        trace_id="4" * 32,
        run_state=None,
        drafts=[reply(subject="Lunch", body="Friday works.")],
    )
    return approvals.edit(
        row.id,
        shown_hash=row.shown_hash,
        actor="me",
        args={**row.args, "body": "Friday at noon works. Approved text.\n\nRobin"},
    )


def _crash_mid_execution(engine: Engine, approval_id: int, clock: FrozenClock, stage: str) -> None:
    """The row as a process killed mid-execution leaves it: executing, with a delivery stage."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE approval SET status = 'executing', lease_owner = 'killed', "
                "lease_expires_at = :at, delivery_stage = :stage, executed_at = NULL WHERE id = :id"
            ),
            {"id": approval_id, "at": clock.now().replace(tzinfo=None), "stage": stage},
        )
    clock.advance(seconds=1)


async def test_an_approved_reply_arrives_once_threaded_with_the_approved_text(
    approved_reply: Approval, outbox: Outbox, approvals: ApprovalQueue, smtp_server: SmtpServer
):
    assert await outbox.tick() == 1
    assert await outbox.tick() == 0
    (received,) = smtp_server.messages
    message = received.message
    assert received.recipients == ["dana@example.com"]
    assert message["To"] == "dana@example.com"
    assert message["From"] == "Robin Me <me@example.com>"
    assert message["Subject"] == "Re: Lunch"
    assert message["In-Reply-To"] == "<lunch-2@example.com>"
    assert message["References"] == "<lunch-1@example.com> <lunch-2@example.com>"
    assert message["Message-ID"] == f"<{approved_reply.idempotency_key}@example.com>"
    assert received.body.strip() == "Friday at noon works. Approved text.\n\nRobin"
    executed = approvals.get(approved_reply.id)
    assert executed.status == ApprovalStatus.EXECUTED and executed.delivery_stage == "sent"
    assert executed.result and executed.result["message_id"] == message["Message-ID"]


async def test_a_new_email_is_not_threaded(
    approvals: ApprovalQueue,
    ledger: Ledger,
    add_item: AddItem,
    outbox: Outbox,
    smtp_server: SmtpServer,
):
    item_id = add_item()
    draft = DraftedAction(
        "send_email", "s1", {"to": ["lee@example.com"], "subject": "Agenda", "body": "Hi Lee"}, "r"
    )
    (row,) = approvals.queue_drafts(
        context=context_for(ledger, item_id), trace_id="5" * 32, run_state=None, drafts=[draft]
    )
    approvals.approve(row.id, shown_hash=row.shown_hash, actor="me")
    await outbox.tick()
    (received,) = smtp_server.messages
    assert received.message["Subject"] == "Agenda" and received.message["In-Reply-To"] is None


async def test_a_crash_after_the_server_accepted_does_not_send_again(
    approved_reply: Approval,
    outbox: Outbox,
    approvals: ApprovalQueue,
    smtp_server: SmtpServer,
    engine: Engine,
    clock: FrozenClock,
    mail_settings: Settings,
):
    await outbox.tick()
    _crash_mid_execution(engine, approved_reply.id, clock, "sent")
    clock.advance(seconds=mail_settings.outbox.lease_seconds)
    assert await outbox.tick() == 1
    assert len(smtp_server.messages) == 1
    result = approvals.get(approved_reply.id).result
    assert result and result["recovered"] == "already accepted by the server"


async def test_a_crash_during_data_is_not_repeated_but_shown_and_retry_sends_it(
    approved_reply: Approval,
    outbox: Outbox,
    approvals: ApprovalQueue,
    smtp_server: SmtpServer,
    engine: Engine,
    clock: FrozenClock,
    mail_settings: Settings,
):
    _crash_mid_execution(engine, approved_reply.id, clock, "sending")
    clock.advance(seconds=mail_settings.outbox.lease_seconds)
    assert await outbox.tick() == 0
    dead = approvals.get(approved_reply.id)
    assert dead.status == ApprovalStatus.DEAD
    assert "delivery uncertain" in (dead.last_error or "")
    assert f"ambient approvals retry {approved_reply.id}" in (dead.last_error or "")
    assert smtp_server.messages == []
    # the human checked: it never arrived. Retry sends it, with the same Message-ID.
    approvals.retry(approved_reply.id, actor="me")
    assert await outbox.tick() == 1
    (received,) = smtp_server.messages
    assert received.message["Message-ID"] == f"<{approved_reply.idempotency_key}@example.com>"


async def test_a_connection_cut_while_the_server_receives_is_delivery_uncertain(
    approved_reply: Approval,
    outbox: Outbox,
    approvals: ApprovalQueue,
    smtp_server: SmtpServer,
    clock: FrozenClock,
):
    smtp_server.recorder.drop_after_data = True
    assert await outbox.tick() == 0
    dead = approvals.get(approved_reply.id)
    assert dead.status == ApprovalStatus.DEAD and dead.delivery_stage == "sending"
    assert "delivery uncertain" in (dead.last_error or "")
    smtp_server.recorder.drop_after_data = False
    clock.advance(hours=5)
    assert await outbox.tick() == 0  # never sent again on its own
    assert len(smtp_server.messages) == 1


async def test_an_email_whose_delivery_is_uncertain_can_be_closed_as_delivered(
    approved_reply: Approval,
    outbox: Outbox,
    approvals: ApprovalQueue,
    ledger: Ledger,
    engine: Engine,
    smtp_server: SmtpServer,
    clock: FrozenClock,
):
    smtp_server.recorder.drop_after_data = True
    assert await outbox.tick() == 0
    assert "ambient approvals delivered" in (approvals.get(approved_reply.id).last_error or "")
    smtp_server.recorder.drop_after_data = False
    # the human checked: it did arrive (the server kept it although the connection broke)
    closed = approvals.mark_delivered(approved_reply.id, actor="cli:me")
    assert closed.status == ApprovalStatus.EXECUTED and closed.executed_at == clock.now()
    assert closed.last_error is None and closed.delivery_stage == "sent"
    assert closed.result and closed.result["summary"] == "delivered (confirmed by cli:me)"
    assert ledger.get(closed.item_id).state == ItemState.DONE
    (entry, *_) = AuditLog(engine).entries(approval_id=closed.id)
    assert (entry.event, entry.actor) == ("delivered", "cli:me")
    assert "delivery uncertain" in entry.details["last_error"]
    clock.advance(hours=5)
    assert await outbox.tick() == 0 and len(smtp_server.messages) == 1  # never sent again
    with pytest.raises(DecisionError, match="is executed: only a dead email whose delivery"):
        approvals.mark_delivered(approved_reply.id, actor="cli:me")


async def test_a_dead_email_that_never_reached_the_server_cannot_be_marked_delivered(
    approved_reply: Approval,
    outbox: Outbox,
    approvals: ApprovalQueue,
    smtp_server: SmtpServer,
):
    smtp_server.recorder.refuse_recipients = {"dana@example.com"}
    await outbox.tick()
    assert approvals.get(approved_reply.id).status == ApprovalStatus.DEAD
    with pytest.raises(DecisionError, match="its delivery is not uncertain"):
        approvals.mark_delivered(approved_reply.id, actor="cli:me")
    assert approvals.get(approved_reply.id).status == ApprovalStatus.DEAD


async def test_a_refused_recipient_sends_nothing_and_is_final(
    approved_reply: Approval,
    outbox: Outbox,
    approvals: ApprovalQueue,
    smtp_server: SmtpServer,
):
    smtp_server.recorder.refuse_recipients = {"dana@example.com"}
    await outbox.tick()
    dead = approvals.get(approved_reply.id)
    assert dead.status == ApprovalStatus.DEAD and dead.delivery_stage is None
    assert "RCPT TO dana@example.com refused: 550" in (dead.last_error or "")
    assert smtp_server.messages == []


async def test_a_temporary_refusal_of_the_data_is_retried_later(
    approved_reply: Approval,
    outbox: Outbox,
    approvals: ApprovalQueue,
    smtp_server: SmtpServer,
    clock: FrozenClock,
):
    smtp_server.recorder.data_answer = "451 4.3.0 try again later"
    await outbox.tick()
    failed = approvals.get(approved_reply.id)
    assert failed.status == ApprovalStatus.FAILED and failed.delivery_stage is None
    assert "DATA refused: 451" in (failed.last_error or "")
    smtp_server.recorder.data_answer = None
    clock.advance(seconds=10)
    assert await outbox.tick() == 1
    assert len(smtp_server.messages) == 1


async def test_an_unreachable_server_is_retried_and_a_missing_server_is_explained(
    approved_reply: Approval,
    outbox: Outbox,
    approvals: ApprovalQueue,
    mail_settings: Settings,
    clock: FrozenClock,
):
    from tests.servers.ports import free_port

    assert mail_settings.smtp is not None
    mail_settings.smtp.port = free_port()  # nothing listens there
    await outbox.tick()
    failed = approvals.get(approved_reply.id)
    assert failed.status == ApprovalStatus.FAILED and "Connection refused" in (
        failed.last_error or ""
    )
    mail_settings.smtp = None
    clock.advance(seconds=10)
    await outbox.tick()
    dead = approvals.get(approved_reply.id)
    assert dead.status == ApprovalStatus.DEAD
    assert "no SMTP server configured: add [smtp] to ambient.toml" in (dead.last_error or "")


async def test_the_smtp_login_uses_the_password_from_secrets(
    approved_reply: Approval,
    approvals: ApprovalQueue,
    smtp_server: SmtpServer,
    mail_settings: Settings,
    engine: Engine,
    clock: FrozenClock,
):
    from tests.servers.smtp import PASSWORD, USERNAME

    assert mail_settings.smtp is not None
    mail_settings.smtp.username = USERNAME
    mail_settings.smtp.password_env = "SMTP_PASSWORD"

    def outbox_with(secrets: Secrets) -> Outbox:
        smtp = SmtpExecutor(engine, clock, mail_settings, secrets, DeliveryJournal(engine, clock))
        policy = PolicyGate.from_settings(mail_settings)
        return Outbox(engine, clock, mail_settings, secrets, policy, {"reply_email": smtp})

    await outbox_with(Secrets({"SMTP_PASSWORD": "wrong"})).tick()
    refused = approvals.get(approved_reply.id)
    assert refused.status == ApprovalStatus.DEAD and "login refused: 535" in (
        refused.last_error or ""
    )
    assert "wrong" not in (refused.last_error or "")
    approvals.retry(approved_reply.id, actor="me")
    assert await outbox_with(Secrets({"SMTP_PASSWORD": PASSWORD})).tick() == 1
    (received,) = smtp_server.messages
    assert received.login == USERNAME


async def test_a_missing_password_variable_is_named(
    approved_reply: Approval, approvals: ApprovalQueue, outbox: Outbox, mail_settings: Settings
):
    assert mail_settings.smtp is not None
    mail_settings.smtp.username = "ambient"
    mail_settings.smtp.password_env = "NOT_SET_ANYWHERE"
    await outbox.tick()
    dead = approvals.get(approved_reply.id)
    assert "the variable NOT_SET_ANYWHERE is not set" in (dead.last_error or "")


async def test_a_password_is_never_sent_unencrypted_to_a_remote_server(
    approved_reply: Approval, approvals: ApprovalQueue, outbox: Outbox, mail_settings: Settings
):
    assert mail_settings.smtp is not None
    mail_settings.smtp.host = "mail.example.invalid"
    mail_settings.smtp.username = "me"
    await outbox.tick()
    dead = approvals.get(approved_reply.id)
    assert dead.status == ApprovalStatus.DEAD
    assert "refusing to send the password unencrypted" in (dead.last_error or "")
