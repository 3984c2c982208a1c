"""The real daemon (`ambient run`) killed with SIGKILL mid-send, then restarted: the approved
reply reaches the SMTP server exactly once, threaded, with the approved text."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.clock import SystemClock
from ambient.core.config import Settings, load_settings
from ambient.core.db import open_database
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from tests.approvals.conftest import THREAD_START, context_for, reply
from tests.daemon.process import DaemonProcess, wait_until
from tests.servers.smtp import SmtpServer

APPROVED_TEXT = "Friday at noon works.\n\nApproved by a human, sent by ambient."

pytestmark = pytest.mark.slow


def _write_config(home: Path, smtp: SmtpServer) -> None:
    (home / "ambient.toml").write_text(
        f"""
model = "test"
seed_samples = false

[smtp]
host = "{smtp.host}"
port = {smtp.port}
security = "none"
from_address = "me@example.com"

[outbox]
interval_seconds = 0.1
lease_seconds = 1

[worker]
interval_seconds = 0.5
"""
    )


@pytest.fixture
def daemon_home(ambient_home: Path, smtp_server: SmtpServer) -> Iterator[tuple[Settings, Engine]]:
    _write_config(ambient_home, smtp_server)
    settings, _secrets = load_settings()
    engine = open_database(settings.resolved_database_url)
    yield settings, engine
    engine.dispose()


def _approved_reply(settings: Settings, engine: Engine) -> Approval:
    clock = SystemClock()
    ledger = Ledger(engine, clock, settings.worker)
    item_id = ledger.ingest(InboundItem("inbox", "crash-test", THREAD_START)).item_id
    ledger.set_state(item_id, ItemState.AWAITING_APPROVAL)
    queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
    (row,) = queue.queue_drafts(
        context=context_for(ledger, item_id), trace_id="6" * 32, run_state=None, drafts=[reply()]
    )
    return queue.edit(
        row.id, shown_hash=row.shown_hash, actor="test", args={**row.args, "body": APPROVED_TEXT}
    )


def _row(settings: Settings, engine: Engine, approval_id: int) -> Approval:
    queue = ApprovalQueue(engine, SystemClock(), settings, PolicyGate.from_settings(settings))
    return queue.get(approval_id)


def _kill_now(daemon: DaemonProcess) -> Callable[..., None]:
    def kill(*_args: object) -> None:
        os.kill(daemon.pid, signal.SIGKILL)

    return kill


def _assert_one_threaded_reply(smtp: SmtpServer, approval: Approval) -> None:
    (received,) = smtp.messages
    assert received.message["In-Reply-To"] == "<lunch-2@example.com>"
    assert received.message["References"] == "<lunch-1@example.com> <lunch-2@example.com>"
    assert received.message["Message-ID"] == f"<{approval.idempotency_key}@example.com>"
    assert received.body.strip() == APPROVED_TEXT


def test_killed_after_the_server_accepted_the_reply_is_not_sent_again(
    daemon_home: tuple[Settings, Engine], smtp_server: SmtpServer, ambient_home: Path
):
    settings, engine = daemon_home
    approval = _approved_reply(settings, engine)
    first = DaemonProcess(ambient_home)
    # the server answered 250 and the daemon recorded it; it dies while saying goodbye
    smtp_server.recorder.on_quit = _kill_now(first)
    try:
        first.process.wait(timeout=60)
    finally:
        first.stop()
    assert first.process.returncode == -signal.SIGKILL
    crashed = _row(settings, engine, approval.id)
    assert (crashed.status, crashed.delivery_stage) == (ApprovalStatus.EXECUTING, "sent")
    smtp_server.recorder.on_quit = None

    second = DaemonProcess(ambient_home)
    try:
        wait_until(
            lambda: _row(settings, engine, approval.id).status == ApprovalStatus.EXECUTED,
            timeout=30,
            what="the restarted daemon to finish the action",
        )
    finally:
        assert second.stop() == 0
    _assert_one_threaded_reply(smtp_server, approval)
    result = _row(settings, engine, approval.id).result
    assert result and result["recovered"] == "already accepted by the server"


def test_killed_while_the_server_received_it_the_reply_is_not_repeated(
    daemon_home: tuple[Settings, Engine], smtp_server: SmtpServer, ambient_home: Path
):
    settings, engine = daemon_home
    approval = _approved_reply(settings, engine)
    first = DaemonProcess(ambient_home)
    # the server has the message; the daemon dies before it hears "250"
    smtp_server.recorder.on_data = _kill_now(first)
    try:
        first.process.wait(timeout=60)
    finally:
        first.stop()
    assert _row(settings, engine, approval.id).delivery_stage == "sending"
    smtp_server.recorder.on_data = None

    second = DaemonProcess(ambient_home)
    try:
        wait_until(
            lambda: _row(settings, engine, approval.id).status == ApprovalStatus.DEAD,
            timeout=30,
            what="the restarted daemon to give the uncertain delivery to the human",
        )
    finally:
        assert second.stop() == 0
    _assert_one_threaded_reply(smtp_server, approval)
    assert "delivery uncertain" in (_row(settings, engine, approval.id).last_error or "")
