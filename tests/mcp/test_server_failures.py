"""An MCP server that does not start, hangs or crashes is reported by name with the tail of its
stderr, and never fails an item: the agent runs without its tools, and ambient tries it again
after a backoff. A call cut off mid-flight is "delivery uncertain" (dead, for the human) unless
the tool is declared idempotent; so is a call whose ambient process was killed."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo

from ambient.approvals.outbox import reclaim_dead_leases
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.items import ItemState
from ambient.runtime import Runtime
from tests.agent.scripted import Script, call, respond, tool_returns, triage
from tests.conftest import REPO, FrozenClock, child_environment
from tests.mcp.conftest import RunItem, approve, kill, probe_table, recorded, server_pid

STDERR_LINE = "probe: cannot open the customer database: /nonexistent/db"


def offered(script: Script, request: int = 0) -> list[str]:
    return [tool.name for tool in script.infos[request].function_tools]


def notify() -> Script:
    return Script(respond(triage(decision="notify")))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Let the event loop run until `condition()` holds (a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        await asyncio.sleep(0.02)


# ---- starting ------------------------------------------------------------------------------
def flag(path: Path) -> Path:
    """A file whose existence the test server reads as a switch (PROBE_BROKEN, PROBE_BLOCK)."""
    path.touch()
    return path


class TestAServerThatDoesNotStart:
    @pytest.fixture
    def broken(self, tmp_path: Path) -> Path:
        return flag(tmp_path / "broken")

    @pytest.fixture
    def mcp_tables(self, calls: Path, broken: Path) -> list[dict[str, Any]]:
        return [probe_table(calls, env={"PROBE_BROKEN": str(broken)}, retry_seconds=60)]

    async def test_is_reported_with_its_stderr_and_retried_after_a_backoff(
        self,
        runtime: Runtime,
        run_item: RunItem,
        broken: Path,
        clock: FrozenClock,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        script = notify()
        item_id, outcome = await run_item(script)

        assert outcome.state == ItemState.DONE  # the item does not fail for it
        assert not [name for name in offered(script) if name.startswith("mcp_")]
        (reported,) = [line for line in warnings(caplog) if "mcp server=crm" in line]
        assert "unavailable (failure 1), its tools left out for 60s: did not start" in reported
        assert f"stderr: probe server starting (pid {server_pid_in(reported)}) | {STDERR_LINE}" in (
            reported
        )

        # within the backoff: not started again, not reported again
        caplog.clear()
        second = notify()
        await run_item(second, subject="Another")
        assert not [name for name in offered(second) if name.startswith("mcp_")]
        assert not [line for line in warnings(caplog) if "mcp server" in line]

        # after it: tried again, and once it starts its tools are back
        broken.unlink()
        clock.advance(seconds=61)
        caplog.set_level(logging.INFO)
        third = notify()
        await run_item(third, subject="A third")
        assert "mcp_crm_lookup" in offered(third) and "mcp_crm_record" in offered(third)
        assert any(
            "mcp server=crm is up again after 1 failure(s)" in r.getMessage()
            for r in caplog.records
        )


def server_pid_in(line: str) -> str:
    return line.split("(pid ", 1)[1].split(")", 1)[0]


class TestAServerThatHangs:
    @pytest.fixture
    def mcp_tables(self, calls: Path) -> list[dict[str, Any]]:
        return [probe_table(calls, env={"PROBE_START": "hang"}, start_timeout_seconds=1)]

    async def test_is_given_up_on_within_its_start_timeout(
        self, runtime: Runtime, run_item: RunItem, caplog: pytest.LogCaptureFixture
    ) -> None:
        script = notify()
        _, outcome = await run_item(script)

        assert outcome.state == ItemState.DONE
        (reported,) = [line for line in warnings(caplog) if "mcp server=crm" in line]
        assert "unavailable (failure 1), its tools left out for 30s: did not start within 1s" in (
            reported
        )


class TestAServerWhoseSecretIsMissing:
    @pytest.fixture
    def mcp_tables(self, calls: Path) -> list[dict[str, Any]]:
        return [probe_table(calls, env_from={"CRM_TOKEN": "AMBIENT_TEST_CRM_TOKEN"})]

    async def test_is_down_with_the_variable_named_and_the_item_completes(
        self, runtime: Runtime, run_item: RunItem, caplog: pytest.LogCaptureFixture
    ) -> None:
        _, outcome = await run_item(notify())

        assert outcome.state == ItemState.DONE
        (reported,) = [line for line in warnings(caplog) if "mcp server=crm" in line]
        assert "env_from.CRM_TOKEN: the variable AMBIENT_TEST_CRM_TOKEN is not set" in reported


# ---- crashing during a run -----------------------------------------------------------------
async def test_a_server_that_crashes_during_a_run_leaves_the_item_to_complete(
    runtime: Runtime, run_item: RunItem, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stderr_log = settings.data_dir / "mcp" / "crm.stderr.log"

    def kill_then_look_up(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        kill(server_pid(stderr_log))
        return ModelResponse(parts=[call("mcp_crm_lookup", key="c-42")])

    script = Script(kill_then_look_up, respond(triage(decision="notify")))
    _, outcome = await run_item(script)

    assert outcome.state == ItemState.DONE
    (failed,) = tool_returns(script.requests[1])
    assert failed.outcome == "failed"
    assert "the MCP server 'crm' stopped answering; go on without its tools" in str(failed.content)
    (reported,) = [line for line in warnings(caplog) if "mcp server=crm" in line]
    assert "calling lookup" in reported


# ---- a call in flight ----------------------------------------------------------------------
def record_draft() -> Script:
    return Script(respond(call("mcp_crm_record", text="renewal on Friday", rationale="asked")))


async def drafted_and_approved(runtime: Runtime, run_item: RunItem) -> Approval:
    item_id, _ = await run_item(record_draft())
    (row,) = runtime.queue.list(item_id=item_id)
    return approve(runtime, row)


class TestACallCutOffWhenTheServerIsKilled:
    @pytest.fixture
    def block(self, tmp_path: Path) -> Path:
        return flag(tmp_path / "block")

    @pytest.fixture
    def idempotent(self) -> list[str]:
        return []

    @pytest.fixture
    def mcp_tables(self, calls: Path, block: Path, idempotent: list[str]) -> list[dict[str, Any]]:
        return [probe_table(calls, env={"PROBE_BLOCK": str(block)}, idempotent=idempotent)]

    async def kill_mid_call(self, runtime: Runtime, calls: Path) -> None:
        outbox = asyncio.create_task(runtime.outbox.tick())
        await until(lambda: recorded(calls))  # the tool is running: it recorded the call
        kill(server_pid(runtime.settings.data_dir / "mcp" / "crm.stderr.log"))
        await outbox

    async def test_is_delivery_uncertain_and_not_called_again(
        self, runtime: Runtime, run_item: RunItem, calls: Path, clock: FrozenClock
    ) -> None:
        row = await drafted_and_approved(runtime, run_item)
        await self.kill_mid_call(runtime, calls)

        dead = runtime.queue.get(row.id or 0)
        assert dead.status == ApprovalStatus.DEAD
        assert (dead.last_error or "").startswith(
            "DeliveryUncertain: delivery uncertain: the call broke off (calling record: "
            "MCPError: Connection closed)"
        )
        assert f"`ambient approvals delivered {row.id}`" in (dead.last_error or "")
        clock.advance(hours=2)
        assert await runtime.outbox.run_until_idle() == 0
        assert len(recorded(calls)) == 1

        # the human checked: it did happen
        delivered = runtime.queue.mark_delivered(row.id or 0, actor="test")
        assert delivered.status == ApprovalStatus.EXECUTED

    @pytest.mark.parametrize("idempotent", [["record"]])
    async def test_is_called_again_when_the_tool_is_declared_idempotent(
        self,
        runtime: Runtime,
        run_item: RunItem,
        calls: Path,
        block: Path,
        clock: FrozenClock,
    ) -> None:
        row = await drafted_and_approved(runtime, run_item)
        await self.kill_mid_call(runtime, calls)
        assert runtime.queue.get(row.id or 0).status == ApprovalStatus.FAILED

        block.unlink()
        clock.advance(seconds=61)  # past the outbox's backoff and the server's
        assert await runtime.outbox.run_until_idle() == 1
        assert runtime.queue.get(row.id or 0).status == ApprovalStatus.EXECUTED
        assert len(recorded(calls)) == 2


OUTBOX_CHILD = """
import asyncio, sys
from datetime import datetime
from ambient.core.config import load_settings
from ambient.runtime import Runtime

class Fixed:
    def now(self):
        return datetime.fromisoformat(sys.argv[1])

settings, secrets = load_settings()
runtime = Runtime(settings, secrets, Fixed())
print("running", flush=True)
asyncio.run(runtime.outbox.tick())
"""


class TestACallWhoseAmbientProcessIsKilled:
    @pytest.fixture
    def mcp_tables(self, calls: Path, tmp_path: Path) -> list[dict[str, Any]]:
        return [probe_table(calls, env={"PROBE_BLOCK": str(flag(tmp_path / "block"))})]

    async def test_is_delivery_uncertain_after_the_restart(
        self, runtime: Runtime, run_item: RunItem, calls: Path, clock: FrozenClock
    ) -> None:
        row = await drafted_and_approved(runtime, run_item)
        child = subprocess.Popen(
            [sys.executable, "-c", OUTBOX_CHILD, clock.now().isoformat()],
            cwd=REPO,
            env=child_environment(),
            stdout=subprocess.DEVNULL,
        )
        try:
            await until(lambda: recorded(calls))  # the call is in flight in the child
            child.kill()  # SIGKILL: no chance to record anything
            child.wait(timeout=20)
        finally:
            child.kill()
        kill(server_pid(runtime.settings.data_dir / "mcp" / "crm.stderr.log"))

        assert reclaim_dead_leases(runtime.engine, clock) == [row.id]
        assert await runtime.outbox.run_until_idle() == 0
        dead = runtime.queue.get(row.id or 0)
        assert dead.status == ApprovalStatus.DEAD
        assert (dead.last_error or "").startswith(
            "DeliveryUncertain: delivery uncertain: ambient stopped while record on the MCP "
            "server 'crm' was running"
        )
        assert len(recorded(calls)) == 1


# ---- a call the server answers with an error -------------------------------------------------
class TestACallAnsweredWithAnError:
    @pytest.fixture
    def mcp_tables(self, calls: Path) -> list[dict[str, Any]]:
        return [probe_table(calls, drafts=["record", "fail"])]

    @pytest.mark.parametrize(
        ("how", "ran", "said"),
        [
            (
                "refuse",
                [],
                "fail on the MCP server 'crm' was refused, so nothing ran: MCPError: text: not a "
                "note this system takes",
            ),
            (
                "protocol",
                ["half"],
                "fail on the MCP server 'crm' answered with an error, after it may have partly "
                "run: MCPError: the database went away mid-write — check what it did before "
                "`ambient approvals retry {id}` calls it again",
            ),
            (
                "tool",
                ["half"],
                "fail on the MCP server 'crm' answered with an error, after it may have partly "
                "run: Error executing tool fail — check what it did before `ambient approvals "
                "retry {id}` calls it again",
            ),
        ],
    )
    async def test_is_dead_and_says_whether_anything_may_have_run(
        self,
        runtime: Runtime,
        run_item: RunItem,
        calls: Path,
        clock: FrozenClock,
        how: str,
        ran: list[str],
        said: str,
    ) -> None:
        draft = call("mcp_crm_fail", text="half", how=how, rationale="asked")
        item_id, _ = await run_item(Script(respond(draft)))
        (row,) = runtime.queue.list(item_id=item_id)
        approve(runtime, row)

        assert await runtime.outbox.run_until_idle() == 0

        dead = runtime.queue.get(row.id or 0)
        assert dead.status == ApprovalStatus.DEAD
        assert dead.last_error == "PermanentExecutionError: " + said.format(id=row.id)
        assert [entry["text"] for entry in recorded(calls)] == ran
        clock.advance(hours=2)
        assert await runtime.outbox.run_until_idle() == 0  # never called again on its own
        assert [entry["text"] for entry in recorded(calls)] == ran
