"""SIGKILL at random moments while items flow: ingest -> agent -> approval -> execution.

A real daemon process (the test model as the LLM, drafting one reply per item) runs against
a real SMTP server; the test, standing in for the human, approves what appears while the daemon
is killed with SIGKILL again and again. Afterwards: every item is in a final state, none lost,
and every approved reply arrived exactly once (counted at the SMTP server).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ambient.approvals.executors.mail import message_id_for
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.clock import SystemClock
from ambient.core.config import Settings, load_settings
from ambient.core.db import open_database
from ambient.core.errors import DecisionError
from ambient.core.ledger import Ledger
from ambient.sources.maildir import deliver
from tests.daemon.mail import email_bytes
from tests.daemon.process import DaemonProcess, wait_until
from tests.servers.smtp import SmtpServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ITEMS = int(os.environ.get("AMBIENT_FAULT_ITEMS", "1000"))
KILLS = 6


def write_config(home: Path, smtp: SmtpServer) -> None:
    (home / "ambient.toml").write_text(
        f"""
model = "test"
seed_samples = false
user_email = "me@example.com"

[[sources]]
type = "maildir"
name = "inbox"
interval_seconds = 0.3

[smtp]
host = "{smtp.host}"
port = {smtp.port}
security = "none"
from_address = "me@example.com"

[worker]
concurrency = 8
interval_seconds = 0.2
lease_seconds = 5
max_attempts = 10
backoff_seconds = 0.5

[outbox]
interval_seconds = 0.1
lease_seconds = 3
backoff_seconds = 0.5
max_attempts = 10
"""
    )


def approve_pending(queue: ApprovalQueue) -> int:
    approved = 0
    for row in queue.list([ApprovalStatus.PENDING], limit=500):
        assert row.id is not None
        try:
            queue.approve(
                row.id, shown_hash=row.shown_hash, acknowledge_warnings=True, actor="test"
            )
            approved += 1
        except DecisionError:
            continue  # stale or decided meanwhile: it is offered again or already done
    return approved


def sent_message_id(row: Approval) -> str:
    """The Message-ID the outbox gives this reply (derived from its idempotency key)."""
    assert row.idempotency_key is not None
    return message_id_for(row.idempotency_key, "me@example.com")


def settled(ledger: Ledger, queue: ApprovalQueue) -> bool:
    counts = ledger.counts().by_state
    open_rows = queue.list(
        [
            ApprovalStatus.PENDING,
            ApprovalStatus.APPROVED,
            ApprovalStatus.EXECUTING,
            ApprovalStatus.FAILED,
        ],
        limit=1,
    )
    return counts["done"] + counts["quarantined"] == ITEMS and not open_rows


def test_sigkill_at_random_points_loses_nothing_and_sends_each_reply_once(
    ambient_home: Path, smtp_server: SmtpServer
) -> None:
    write_config(ambient_home, smtp_server)
    settings: Settings = load_settings()[0]
    engine: Engine = open_database(settings.resolved_database_url)
    clock = SystemClock()
    ledger = Ledger(engine, clock, settings.worker)
    queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
    for index in range(ITEMS):
        deliver(
            settings.maildir_path,
            email_bytes(
                f"request {index}",
                sender=f"Person {index} <p{index}@example.org>",
                message_id=f"<kill9-{index}@example.org>",
                body=f"Question number {index}?",
            ),
        )
    chaos = random.Random(int(os.environ.get("AMBIENT_FAULT_SEED", "9")))
    started = time.monotonic()
    for _ in range(KILLS):
        daemon = DaemonProcess(ambient_home, log_level="WARNING")
        deadline = time.monotonic() + chaos.uniform(1.5, 4.0)
        while time.monotonic() < deadline:
            approve_pending(queue)
            time.sleep(0.05)
        daemon.kill()

    daemon = DaemonProcess(ambient_home, log_level="WARNING")
    try:
        deadline = time.monotonic() + 300
        while not settled(ledger, queue):
            assert daemon.process.poll() is None, "the daemon died"
            assert time.monotonic() < deadline, f"not settled: {ledger.counts().by_state}"
            approve_pending(queue)
            time.sleep(0.1)
    finally:
        assert daemon.stop() == 0
    elapsed = time.monotonic() - started

    counts = ledger.counts().by_state
    assert counts["done"] == ITEMS, counts  # nothing lost, nothing stuck
    assert len(os.listdir(settings.maildir_path / "new")) == 0
    received = Counter(message.message["Message-ID"] for message in smtp_server.messages)
    assert set(received.values()) <= {1}, "a reply was sent twice"
    replies = [row for row in queue.list(limit=100_000) if row.kind == "reply_email"]
    assert len(replies) == ITEMS
    executed = [row for row in replies if row.status == ApprovalStatus.EXECUTED]
    uncertain = [row for row in replies if row.status != ApprovalStatus.EXECUTED]
    # Killed between handing the message over and hearing "250", a reply cannot be known to
    # have gone out (no Sent folder to check on a plain SMTP account): it goes dead with
    # "delivery uncertain" for the human, never out a second time on its own.
    for row in uncertain:
        assert row.status == ApprovalStatus.DEAD and "delivery uncertain" in (row.last_error or "")
    for row in executed:
        assert received[sent_message_id(row)] == 1, "an executed reply did not arrive"
    # The human checks: what did not arrive is retried, and then arrives exactly once.
    retried = [row for row in uncertain if received[sent_message_id(row)] == 0]
    for row in retried:
        assert row.id is not None
        queue.retry(row.id, actor="test")
    if retried:
        daemon = DaemonProcess(ambient_home, log_level="WARNING")
        try:
            wait_until(
                lambda: all(
                    queue.get(r.id or 0).status == ApprovalStatus.EXECUTED for r in retried
                ),
                timeout=120,
                what="the retried replies to be sent",
            )
        finally:
            assert daemon.stop() == 0
    received = Counter(message.message["Message-ID"] for message in smtp_server.messages)
    assert len(received) == ITEMS and set(received.values()) == {1}, "a reply was sent twice"
    replied_to = Counter(message.message["In-Reply-To"] for message in smtp_server.messages)
    assert len(replied_to) == ITEMS  # one reply per item, each threaded to its own message
    print(
        f"\n{ITEMS} items, {KILLS} SIGKILLs, settled in {elapsed:.1f}s; "
        f"{len(uncertain)} delivery uncertain ({len(retried)} not received, retried)"
    )
    engine.dispose()
