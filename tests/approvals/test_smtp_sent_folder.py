"""A reply from an IMAP account: sent over SMTP, saved to its Sent folder (real Dovecot), and
after a crash during DATA the Sent folder decides whether it went out."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from ambient.approvals.executors.mail import message_id_for
from ambient.approvals.executors.smtp import SmtpExecutor
from ambient.approvals.journal import DeliveryJournal
from ambient.approvals.outbox import Outbox
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import Secrets, Settings
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from tests.approvals.conftest import THREAD_START, context_for, reply
from tests.conftest import FrozenClock
from tests.servers.dovecot import ImapAccount
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.slow


@pytest.fixture
def account_settings(settings: Settings, imap_account: ImapAccount, smtp_server: SmtpServer):
    smtp = smtp_server.settings(from_address="me@example.com")
    settings.sources = [imap_account.settings(smtp=smtp, address="me@example.com")]
    secrets = Secrets({"TEST_IMAP_PASSWORD": imap_account.password})
    return settings, secrets


@pytest.fixture
def parts(account_settings, engine: Engine, clock: FrozenClock):
    settings, secrets = account_settings
    queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
    smtp = SmtpExecutor(engine, clock, settings, secrets, DeliveryJournal(engine, clock))
    executors: dict[str, Any] = {"reply_email": smtp}
    outbox = Outbox(engine, clock, settings, secrets, PolicyGate.from_settings(settings), executors)
    return queue, outbox


def _approved(queue: ApprovalQueue, ledger: Ledger) -> Approval:
    item_id = ledger.ingest(InboundItem("work", "INBOX/1/7", THREAD_START)).item_id
    ledger.set_state(item_id, ItemState.AWAITING_APPROVAL)
    (row,) = queue.queue_drafts(
        context=context_for(ledger, item_id), trace_id="7" * 32, run_state=None, drafts=[reply()]
    )
    return queue.approve(row.id, shown_hash=row.shown_hash, actor="me")


def _sent_message_ids(account: ImapAccount) -> list[str]:
    client = account.client()
    try:
        if not client.folder_exists("Sent"):
            return []
        client.select_folder("Sent", readonly=True)
        fetched = client.fetch(client.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        return [
            data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1].strip()
            for data in fetched.values()
        ]
    finally:
        client.logout()


async def test_a_reply_is_sent_once_and_saved_to_the_sent_folder(
    parts, ledger: Ledger, smtp_server: SmtpServer, imap_account: ImapAccount
):
    queue, outbox = parts
    approval = _approved(queue, ledger)
    assert await outbox.tick() == 1
    (received,) = smtp_server.messages
    message_id = received.message["Message-ID"]
    assert _sent_message_ids(imap_account) == [message_id]
    assert queue.get(approval.id).result["sent_copy"] == "appended"


async def test_after_a_crash_during_data_a_copy_in_sent_means_it_went_out(
    parts,
    ledger: Ledger,
    smtp_server: SmtpServer,
    imap_account: ImapAccount,
    engine: Engine,
    clock: FrozenClock,
):
    queue, outbox = parts
    approval = _approved(queue, ledger)
    assert approval.idempotency_key is not None
    message_id = message_id_for(approval.idempotency_key, "me@example.com")
    # the server filed the message in Sent itself (as Gmail does); then the daemon died
    client = imap_account.client()
    client.create_folder("Sent")
    client.logout()
    imap_account.append(
        f"Message-ID: {message_id}\r\nSubject: Re: Lunch\r\n\r\nFriday\r\n".encode(), "Sent"
    )
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE approval SET status = 'executing', delivery_stage = 'sending', "
                "lease_expires_at = :at WHERE id = :id"
            ),
            {"id": approval.id, "at": clock.now().replace(tzinfo=None)},
        )
    clock.advance(seconds=1)
    assert await outbox.tick() == 1
    done = queue.get(approval.id)
    assert done.status == ApprovalStatus.EXECUTED
    assert done.result["recovered"] == "found in the Sent folder"
    assert done.result["sent_copy"] == "already_there"
    assert smtp_server.messages == []  # not sent again
    assert _sent_message_ids(imap_account) == [message_id]
