"""The database locked by a long writer (the TUI, a backup) and the memory folder deleted
while the daemon runs: clear errors, the daemon goes on, nothing is lost."""

from __future__ import annotations

import logging
import shutil
import sqlite3

from ambient.runtime import Runtime
from ambient.sources.maildir import deliver
from tests.daemon.mail import email_bytes
from tests.daemon.processors import AgentTestProcessor


async def test_database_locked_by_a_long_writer_delays_but_loses_nothing(
    settings, secrets, caplog
) -> None:
    settings.database_busy_timeout_seconds = 0.3
    runtime = Runtime(settings, secrets)
    runtime.processor = AgentTestProcessor()
    daemon = runtime.daemon
    deliver(settings.maildir_path, email_bytes())
    backup = sqlite3.connect(settings.database_path, timeout=1, isolation_level=None)
    backup.execute("BEGIN IMMEDIATE")  # a long writer holds the lock
    try:
        with caplog.at_level(logging.ERROR):
            result = await daemon.run_once()
        assert result == {"new": 0, "processed": 0}
        assert "database is locked" in caplog.text
    finally:
        backup.execute("ROLLBACK")
        backup.close()
    assert await daemon.run_once() == {"new": 1, "processed": 1}
    assert runtime.ledger.counts().by_state["done"] == 1


async def test_memory_folder_deleted_while_running_is_reported_and_items_still_flow(
    settings, secrets, caplog
) -> None:
    from ambient.home import initialise

    runtime = Runtime(settings, secrets)
    initialise(settings, runtime.memory, lambda: runtime.engine, samples=False)
    daemon = runtime.daemon  # the real agent on the test model, reading memory
    deliver(settings.maildir_path, email_bytes())
    shutil.rmtree(settings.memory_dir)
    with caplog.at_level(logging.WARNING):
        result = await daemon.run_once()
    assert result["processed"] == 1
    assert "memory" in caplog.text.lower()
    counts = runtime.ledger.counts().by_state
    assert counts["awaiting_approval"] + counts["done"] == 1
