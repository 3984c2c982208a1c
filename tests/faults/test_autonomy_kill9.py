"""An auto-approved reply through a SIGKILL: the real daemon drafts it, an earned-autonomy rule
approves it at intake, the outbox sends it, and the daemon is killed right after the SMTP
server accepted it; the restarted daemon finishes it and the reply arrived exactly once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ambient.approvals.audit import AuditLog
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.clock import SystemClock
from ambient.core.config import load_settings
from ambient.core.db import open_database
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from ambient.sources.maildir import deliver
from tests.approvals.conftest import THREAD_START, context_for, reply
from tests.daemon.mail import email_bytes
from tests.daemon.process import DaemonProcess, wait_until
from tests.faults.test_kill9 import write_config as write_kill9_config
from tests.servers.smtp import SmtpServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NEW_MESSAGE_ID = "<autonomy-kill9@example.com>"
DANA = "reply_email:dana@example.com"


def write_config(home: Path, smtp: SmtpServer) -> None:
    """The SIGKILL test's daemon (a Maildir inbox, SMTP), with autonomy earned after 2."""
    write_kill9_config(home, smtp)
    with (home / "ambient.toml").open("a") as config:
        config.write("\n[autonomy]\nenabled = true\nstreak = 2\n")


def earn_autonomy(queue: ApprovalQueue, ledger: Ledger) -> list[int]:
    """Two replies to Dana approved as drafted by the human: her class is trusted."""
    approved = []
    for number in range(2):
        item_id = ledger.ingest(InboundItem("inbox", f"earned-{number}", THREAD_START)).item_id
        ledger.set_state(item_id, ItemState.AWAITING_APPROVAL)
        (row,) = queue.queue_drafts(
            context=context_for(ledger, item_id), trace_id="", run_state=None, drafts=[reply()]
        )
        queue.approve(row.id, shown_hash=row.shown_hash, actor="test")
        approved.append(row.id)
    return approved


def the_rules_reply(queue: ApprovalQueue) -> Approval | None:
    rows = [row for row in queue.list(limit=100) if row.decided_by == f"autonomy:{DANA}"]
    return rows[0] if rows else None


def test_an_auto_approved_reply_is_sent_exactly_once_through_a_sigkill_mid_send(
    ambient_home: Path, smtp_server: SmtpServer
) -> None:
    write_config(ambient_home, smtp_server)
    settings = load_settings()[0]
    engine: Engine = open_database(settings.resolved_database_url)
    clock = SystemClock()
    ledger = Ledger(engine, clock, settings.worker)
    queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
    earned = earn_autonomy(queue, ledger)

    first = DaemonProcess(ambient_home)
    try:
        wait_until(
            lambda: all(queue.get(i).status == ApprovalStatus.EXECUTED for i in earned),
            timeout=60,
            what="the human-approved replies to be sent",
        )
        # the next SMTP session is the rule's reply: the daemon dies once the server has it
        smtp_server.recorder.on_quit = lambda: os.kill(first.pid, signal.SIGKILL)
        body = "Can we move our call to Thursday?"
        deliver(settings.maildir_path, email_bytes("Call", message_id=NEW_MESSAGE_ID, body=body))
        first.process.wait(timeout=120)
    finally:
        first.stop()
    smtp_server.recorder.on_quit = None
    assert first.process.returncode == -signal.SIGKILL
    automatic = the_rules_reply(queue)
    assert automatic is not None and automatic.id is not None
    assert (automatic.status, automatic.delivery_stage) == (ApprovalStatus.EXECUTING, "sent")

    second = DaemonProcess(ambient_home)
    try:
        wait_until(
            lambda: queue.get(automatic.id or 0).status == ApprovalStatus.EXECUTED,
            timeout=60,
            what="the restarted daemon to finish the rule's reply",
        )
        wait_until(
            lambda: ledger.get(automatic.item_id).state == ItemState.DONE,
            timeout=30,
            what="the item to be done",
        )
    finally:
        assert second.stop() == 0

    replies = [m for m in smtp_server.messages if m.message["In-Reply-To"] == NEW_MESSAGE_ID]
    assert len(replies) == 1, "the auto-approved reply was sent twice (or never)"
    assert replies[0].message["Message-ID"] == f"<{automatic.idempotency_key}@example.com>"
    assert len(smtp_server.messages) == 3  # the two the human approved, and the rule's one
    done = queue.get(automatic.id)
    assert done.result and done.result["recovered"] == "already accepted by the server"
    assert AuditLog(engine).verify_chain().ok
    engine.dispose()
