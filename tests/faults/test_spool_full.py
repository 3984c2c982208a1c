"""The disk fills up under the trace spool: spans are dropped with a clear error, items and
decisions keep flowing, and tracing resumes by itself once there is room again."""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy.exc import OperationalError

from ambient.core.config import Secrets
from ambient.runtime import Runtime
from ambient.sources.maildir import deliver
from ambient.tracing.spool import Spool
from tests.daemon.mail import email_bytes
from tests.servers.langfuse_receiver import LangfuseProject


async def test_disk_full_on_the_spool_loses_no_work_and_tracing_recovers(
    settings, langfuse_project: LangfuseProject, caplog, monkeypatch
) -> None:
    settings.tracing.spool_interval_seconds = 0.05
    runtime = Runtime(settings, Secrets(langfuse_project.environment()))
    daemon = runtime.daemon  # the real agent (test model) with tracing on
    for index in range(2):
        deliver(settings.maildir_path, email_bytes(f"full {index}", message_id=f"<full{index}@x>"))
    append = Spool.append

    def disk_full(self: Spool, *args: object, **kwargs: object) -> bool:
        raise OperationalError(
            "INSERT INTO trace_spool", {}, sqlite3.OperationalError("database or disk is full")
        )

    monkeypatch.setattr(Spool, "append", disk_full)
    with caplog.at_level(logging.ERROR):
        result = await daemon.run_once()
    assert result["processed"] == 2
    assert "disk is full" in caplog.text
    counts = runtime.ledger.counts().by_state
    assert counts["awaiting_approval"] + counts["done"] == 2

    monkeypatch.setattr(Spool, "append", append)  # room again
    deliver(settings.maildir_path, email_bytes("after", message_id="<after@x>"))
    await daemon.run_once()
    (latest,) = runtime.ledger.items(limit=1)
    assert runtime.tracing is not None
    runtime.tracing.tracer.flush()
    forwarded = [job for job in daemon.jobs if job.name == "tracing-forwarder"]
    assert forwarded, [job.name for job in daemon.jobs]
    await forwarded[0].tick()
    langfuse_project.wait_for(
        lambda: any(span.trace_id == latest.trace_id for span in langfuse_project.received.spans)
    )
    await daemon.shutdown()
