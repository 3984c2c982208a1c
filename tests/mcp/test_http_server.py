"""A streamable-HTTP MCP server (the test server on loopback): its headers come from the
environment, never from ambient.toml; a read result is framed, a write is drafted and runs once
approved."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ambient.approvals.tables import ApprovalStatus
from ambient.core.config import configured_secret_names
from ambient.runtime import Runtime
from tests.agent.scripted import Script, call, respond, tool_returns
from tests.mcp.conftest import PROBE, RunItem, approve, recorded, wait_until

TOKEN = "s3cret-crm-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def http_server(calls: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "http-server.log").open("w")
    env = {"PATH": "/usr/bin:/bin", "PROBE_CALLS": str(calls), "PROBE_TOKEN": TOKEN}
    server = subprocess.Popen(
        [sys.executable, str(PROBE), "http", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        wait_until(lambda: accepts(port) or server.poll() is not None)
        assert server.poll() is None, (tmp_path / "http-server.log").read_text()
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture
def mcp_tables(http_server: str, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    monkeypatch.setenv("AMBIENT_TEST_CRM_AUTH", f"Bearer {TOKEN}")
    return [
        {
            "name": "crm",
            "url": http_server,
            "headers_from": {"Authorization": "AMBIENT_TEST_CRM_AUTH"},
            "read_only": ["lookup"],
            "drafts": ["*"],  # every tool that is not read-only
        }
    ]


async def test_a_streamable_http_server_reads_framed_and_writes_once_approved(
    runtime: Runtime, run_item: RunItem, calls: Path
) -> None:
    assert "AMBIENT_TEST_CRM_AUTH" in configured_secret_names(runtime.settings)  # redacted
    script = Script(
        respond(call("mcp_crm_lookup", key="c-7")),
        respond(call("mcp_crm_record", text="called back", priority=2, rationale="asked")),
    )
    item_id, _ = await run_item(script)

    offered = {tool.name for tool in script.infos[0].function_tools}
    assert {"mcp_crm_lookup", "mcp_crm_record", "mcp_crm_purge"} <= offered  # drafts = ["*"]
    (result,) = tool_returns(script.requests[1])
    assert str(result.content).startswith('<untrusted_tool_result server="crm" tool="lookup">')
    assert "customer c-7: Dana Example" in str(result.content)  # the bearer token went along

    (row,) = runtime.queue.list(item_id=item_id)
    assert row.args["arguments"] == {"text": "called back", "priority": 2}
    assert recorded(calls) == []
    approve(runtime, row)
    assert await runtime.outbox.run_until_idle() == 1
    assert recorded(calls) == [{"text": "called back", "priority": 2}]
    assert runtime.queue.get(row.id or 0).status == ApprovalStatus.EXECUTED
