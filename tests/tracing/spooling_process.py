"""A process that records steps and a decision (as the TUI would), says so, then waits to be killed.

Run as ``python -m tests.tracing.spooling_process TRACE_ID KEY`` with AMBIENT_HOME and the
LANGFUSE_* variables set; it never talks to Langfuse itself: everything goes to the spool.
"""

from __future__ import annotations

import sys
import time

from ambient.core.clock import SystemClock
from ambient.core.config import load_settings
from ambient.core.db import open_database
from ambient.tracing.assembly import open_tracing
from ambient.tracing.tracer import ItemRef


def main(trace_id: str, key: str) -> None:
    settings, secrets = load_settings()
    engine = open_database(settings.resolved_database_url)
    tracing = open_tracing(settings, secrets, engine, SystemClock())
    tracer = tracing.tracer
    item = ItemRef(trace_id=trace_id, source="inbox", key=key, thread_key="<thread@example.com>")
    tracer.record_step(item, "human decision", output={"decision": "approved"})
    tracer.score_decision(trace_id, "approved", "send it", approval_id=1)
    with tracer.item_span(item, input={"key": key}):  # in flight when the process dies
        tracer.record_step(item, "execution", output={"sent": True})
        tracer.flush()
        print("spooled", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
