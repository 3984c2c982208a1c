"""A process killed with SIGKILL after spooling: a fresh forwarder delivers what it recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ambient.core.ids import trace_id_for_item
from ambient.tracing.assembly import Tracing
from ambient.tracing.context import root_span_id_for_trace
from ambient.tracing.forwarder import SpanForwarder
from tests.servers.langfuse_receiver import LangfuseProject

ROOT = Path(__file__).resolve().parents[2]


def wait_for_line(process: subprocess.Popen[str], expected: str, timeout: float) -> None:
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines and lines[0].strip() == expected, (lines, process.poll())


@pytest.mark.slow
async def test_spans_spooled_by_a_killed_process_are_delivered_after_restart(
    tracing: Tracing,
    forwarder: SpanForwarder,
    langfuse_project: LangfuseProject,
    ambient_home: Path,
) -> None:
    trace_id = trace_id_for_item("inbox", "cur/9")
    environment = {
        **os.environ,
        **langfuse_project.environment(),
        "AMBIENT_HOME": str(ambient_home),
        "AMBIENT_TRACING__SPOOL_INTERVAL_SECONDS": "60",  # only explicit flushes reach the spool
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.tracing.spooling_process", trace_id, "cur/9"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_line(process, "spooled", timeout=60)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert langfuse_project.received.spans == []  # the killed process sent nothing itself

    assert await forwarder.tick() == 3

    received = langfuse_project.received
    assert sorted(span.name for span in received.spans) == ["execution", "human decision"]
    root_id = root_span_id_for_trace(trace_id)
    assert all(span.trace_id == trace_id for span in received.spans)
    assert all(span.parent_span_id == root_id for span in received.spans)
    assert all(span.attributes["session.id"] == "<thread@example.com>" for span in received.spans)
    (score,) = received.scores
    assert (score["traceId"], score["value"], score["comment"]) == (trace_id, "approved", "send it")
    assert tracing.spool.counts().rows == 0
