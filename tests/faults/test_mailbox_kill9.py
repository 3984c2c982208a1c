"""An approved archive through a SIGKILL between the move and its record: the outbox process dies
right after the IMAP server moved the message (or, on a server without MOVE, copied it), before
anything was recorded; the real daemon, restarted, finishes the action exactly once and the
message is in the archive folder once, and no longer in the inbox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.clock import SystemClock
from ambient.core.config import ImapSourceSettings, Settings, load_settings
from ambient.core.db import open_database
from ambient.core.ledger import Ledger
from tests.approvals.conftest import context_for
from tests.approvals.test_mailbox_actions import action, email, folder_flags, receive
from tests.conftest import child_environment
from tests.daemon.process import REPO, DaemonProcess, wait_until
from tests.servers.dovecot import ImapAccount

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MESSAGE_ID = "<kill9-archive@shop.example>"


def write_config(home: Path, account: ImapAccount) -> None:
    (home / ".env").write_text(f"TEST_IMAP_PASSWORD={account.password}\n")
    (home / "ambient.toml").write_text(
        f"""
model = "test"
seed_samples = false

[[sources]]
type = "imap"
name = "work"
host = "{account.server.host}"
port = {account.server.port}
security = "none"
username = "{account.username}"
password_env = "TEST_IMAP_PASSWORD"
idle = false
interval_seconds = 3600

[outbox]
interval_seconds = 0.1
lease_seconds = 2
"""
    )


def message_ids(account: ImapAccount, folder: str) -> list[str]:
    return list(folder_flags(account, folder))


def approved_archive(settings: Settings, account: ImapAccount) -> Approval:
    engine = open_database(settings.resolved_database_url)
    try:
        clock = SystemClock()
        ledger = Ledger(engine, clock, settings.worker)
        source = settings.sources[0]
        assert isinstance(source, ImapSourceSettings)
        item_id = receive(account, source, ledger, email(MESSAGE_ID))
        queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
        (row,) = queue.queue_drafts(
            context=context_for(ledger, item_id),
            trace_id="9" * 32,
            run_state=None,
            drafts=[action("move_message")],
        )
        return queue.approve(row.id, shown_hash=row.shown_hash, actor="me")
    finally:
        engine.dispose()


def row(settings: Settings, approval_id: int | None) -> Approval:
    assert approval_id is not None
    engine = open_database(settings.resolved_database_url)
    try:
        queue = ApprovalQueue(engine, SystemClock(), settings, PolicyGate.from_settings(settings))
        return queue.get(approval_id)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("server_has", "killed_after", "in_inbox_after_the_kill", "finished"),
    [
        ("MOVE", "move", [], "moved to Archive (before a restart)"),
        ("no MOVE", "copy", [MESSAGE_ID], "moved to Archive (its copy was made before a restart)"),
    ],
)
def test_killed_between_the_move_and_its_record_the_message_is_in_the_folder_once(
    ambient_home: Path,
    imap_account: ImapAccount,
    server_has: str,
    killed_after: str,
    in_inbox_after_the_kill: list[str],
    finished: str,
) -> None:
    write_config(ambient_home, imap_account)
    client = imap_account.client()
    client.create_folder("Archive")
    client.logout()
    settings, _secrets = load_settings()
    approval = approved_archive(settings, imap_account)

    mover = subprocess.run(
        [sys.executable, "-m", "tests.faults.mailbox_mover", killed_after],
        cwd=REPO,
        env=child_environment(),
        capture_output=True,
        timeout=120,
    )
    assert mover.returncode == -9, mover.stderr.decode()
    crashed = row(settings, approval.id)
    assert (crashed.status, crashed.delivery_stage) == (ApprovalStatus.EXECUTING, "moving")
    assert message_ids(imap_account, "Archive") == [MESSAGE_ID]
    assert message_ids(imap_account, "INBOX") == in_inbox_after_the_kill

    daemon = DaemonProcess(ambient_home)
    try:
        wait_until(
            lambda: row(settings, approval.id).status == ApprovalStatus.EXECUTED,
            timeout=60,
            what=f"the restarted daemon to finish the archive ({server_has})",
        )
    finally:
        assert daemon.stop() == 0
    done = row(settings, approval.id)
    assert done.attempts == 2
    assert done.result is not None and done.result["summary"] == f"work: {finished}"
    assert done.delivery_stage == "moved"
    assert message_ids(imap_account, "Archive") == [MESSAGE_ID]
    assert message_ids(imap_account, "INBOX") == []
