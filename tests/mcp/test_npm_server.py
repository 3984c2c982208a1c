"""Interop with code no one here wrote: the reference MCP memory server from the npm registry
(pinned in scripts/setup-mcp-servers, which scripts/test runs), run with Debian's nodejs — its
tools listed, a read-only call framed, a drafted write approved and executed, then read back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ambient.approvals.tables import ApprovalStatus
from ambient.runtime import Runtime
from tests.agent.scripted import Script, call, respond, tool_returns, triage
from tests.conftest import REPO
from tests.mcp.conftest import RunItem, approve

SERVER = REPO / ".cache/npm-mcp/node_modules/@modelcontextprotocol/server-memory/dist/index.js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None,
    reason="node is not installed here (scripts/install-test-deps.sh installs Debian's nodejs)",
)


@pytest.fixture(scope="session")
def memory_server() -> Path:
    """The installed server; installed now when scripts/test did not run first."""
    if not SERVER.is_file():
        subprocess.run([str(REPO / "scripts" / "setup-mcp-servers")], check=True, timeout=300)
    return SERVER


@pytest.fixture
def graph(tmp_path: Path) -> Path:
    return tmp_path / "memory.jsonl"


@pytest.fixture
def mcp_tables(memory_server: Path, graph: Path) -> list[dict[str, Any]]:
    return [
        {
            "name": "memory",
            "command": "node",
            "args": [str(memory_server)],
            "env": {"MEMORY_FILE_PATH": str(graph)},
            "read_only": ["read_graph", "search_nodes", "open_nodes"],
            "drafts": ["create_entities", "add_observations"],
            "start_timeout_seconds": 30,
        }
    ]


DANA = {"name": "Dana Example", "entityType": "person", "observations": ["renews on Friday"]}


async def test_the_npm_memory_server_lists_reads_and_writes_only_once_approved(
    runtime: Runtime, run_item: RunItem, graph: Path
) -> None:
    server = runtime.mcp_servers.get("memory")
    assert server is not None
    await server.enter()
    try:
        listed = {tool.name for tool in await server.tools()}
    finally:
        await server.exit()
    assert {"create_entities", "read_graph", "delete_entities", "search_nodes"} <= listed

    script = Script(
        respond(call("mcp_memory_read_graph")),
        respond(call("mcp_memory_create_entities", entities=[DANA], rationale="remember Dana")),
    )
    item_id, _ = await run_item(script)
    offered = {tool.name for tool in script.infos[0].function_tools}
    assert {"mcp_memory_read_graph", "mcp_memory_create_entities"} <= offered
    assert "mcp_memory_delete_entities" not in offered  # in neither list: never offered
    (empty,) = tool_returns(script.requests[1])
    assert str(empty.content).startswith(
        '<untrusted_tool_result server="memory" tool="read_graph">'
    )
    assert "Dana" not in str(empty.content)

    (row,) = runtime.queue.list(item_id=item_id)
    assert row.args == {
        "server": "memory",
        "tool": "create_entities",
        "arguments": {"entities": [DANA]},
    }
    assert not graph.exists() or "Dana" not in graph.read_text()
    approve(runtime, row)
    assert await runtime.outbox.run_until_idle() == 1
    assert runtime.queue.get(row.id or 0).status == ApprovalStatus.EXECUTED

    # the next item's run reads it back from the same server
    again = Script(
        respond(call("mcp_memory_search_nodes", query="Dana")),
        respond(triage(decision="notify")),
    )
    await run_item(again, subject="Dana again")
    (found,) = tool_returns(again.requests[1])
    assert "Dana Example" in str(found.content) and "renews on Friday" in str(found.content)
    assert graph.read_text().count("Dana Example") == 1
