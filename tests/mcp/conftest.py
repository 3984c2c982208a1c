"""Fixtures for the MCP tests: `[[mcp]]` servers in ambient.toml, a runtime on a scripted model,
and an item run through the agent the way the daemon's worker runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from pydantic_ai.models.function import FunctionModel
from sqlalchemy import Engine

from ambient.approvals.tables import Approval
from ambient.core.config import Secrets, Settings, load_settings
from ambient.core.items import InboundItem
from ambient.core.processing import ItemOutcome
from ambient.runtime import Runtime
from tests.agent.scripted import Script
from tests.conftest import FrozenClock
from tests.tui.conftest import email_bytes

PROBE = Path(__file__).with_name("probe_server.py")


def probe_table(calls: Path, **overrides: Any) -> dict[str, Any]:
    """The `[[mcp]]` table of the test server as a stdio process."""
    table: dict[str, Any] = {
        "name": "crm",
        "command": sys.executable,
        "args": [str(PROBE)],
        "env": {"PROBE_CALLS": str(calls)},
        "read_only": ["lookup"],
        "drafts": ["record"],
        "start_timeout_seconds": 20,
        "call_timeout_seconds": 20,
    }
    env = overrides.pop("env", {})
    table.update(overrides)
    table["env"] = {**table["env"], **env}
    return table


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    """The file the test server's `record` tool appends each call to."""
    return tmp_path / "calls.jsonl"


def recorded(calls: Path) -> list[dict[str, Any]]:
    if not calls.exists():
        return []
    return [json.loads(line) for line in calls.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def mcp_tables(calls: Path) -> list[dict[str, Any]]:
    """The servers in ambient.toml (a test module overrides this fixture for others)."""
    return [probe_table(calls)]


@pytest.fixture
def settings_and_secrets(
    ambient_home: Path, mcp_tables: list[dict[str, Any]]
) -> tuple[Settings, Secrets]:
    (ambient_home / "ambient.toml").write_text(
        tomli_w.dumps({"seed_samples": False, "mcp": mcp_tables}), encoding="utf-8"
    )
    return load_settings()


@pytest.fixture
async def runtime(
    settings: Settings, secrets: Secrets, clock: FrozenClock, engine: Engine
) -> AsyncIterator[Runtime]:
    """The process's parts, as the daemon builds them; its MCP servers stopped at the end."""
    runtime = Runtime(settings, secrets, clock, engine=engine)
    yield runtime
    await runtime.close_mcp()
    runtime.close()


RunItem = Callable[..., Any]


@pytest.fixture
def run_item(runtime: Runtime) -> RunItem:
    """Ingest one email and run the agent on it (on `script`) as the worker does."""
    counter = iter(range(1, 1000))
    scripts: list[Script] = []
    runtime.model = FunctionModel(lambda messages, info: scripts[-1](messages, info))

    async def run(script: Script, *, subject: str = "Renewal") -> tuple[int, ItemOutcome]:
        scripts.append(script)
        raw = email_bytes(subject=subject, body="Please note that we renew on Friday.")
        ingested = runtime.ledger.ingest(InboundItem("inbox", f"m{next(counter)}", raw))
        (claimed,) = runtime.ledger.claim("test-worker", 1)
        outcome = await runtime.processor.process(claimed)
        runtime.ledger.complete(claimed.id, "test-worker", outcome.state, outcome.triage)
        return ingested.item_id, outcome

    return run


def approve(runtime: Runtime, row: Approval) -> Approval:
    assert row.id is not None
    return runtime.queue.approve(row.id, shown_hash=row.shown_hash, actor="test")


def wait_until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.02)


def server_pid(stderr_log: Path) -> int:
    """The test server's pid, as it wrote it to its stderr when it started (the last start)."""
    found = re.findall(r"probe server starting \(pid (\d+)\)", stderr_log.read_text())
    assert found, stderr_log.read_text()
    return int(found[-1])


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
