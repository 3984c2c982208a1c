"""The mcp_call executor: one call of an approved tool of an MCP server, at most once.

MCP has no idempotency key a server must honour (the approval's key goes along in the request's
``_meta``, for a server that reads it), so the executor keeps the outbox's durable delivery stage
(:mod:`ambient.approvals.journal`) around the one step whose outcome a crash can hide, as SMTP
does around DATA:

1. connect, list the tools, check that the tool is there and that the arguments fit its input
   schema — nothing was called yet: a server that is down is retried with backoff, a missing
   tool or arguments it does not accept are final (dead);
2. stage ``sending`` is committed, then the call; any answer ends the uncertainty: ``sent`` on
   success, cleared when the tool answered with an error or the server refused the request
   (dead either way, for the human: only a refusal that comes before any tool runs — an
   unknown tool, invalid arguments — says "nothing ran"; any other error may come after the
   tool partly ran, and says so);
3. a crash (of ambient, or of the server, or no answer in time) while the call is in flight
   leaves ``sending``: ambient **does not call it again** on its own — the action is dead with
   "delivery uncertain" and the human checks, then ``ambient approvals delivered ID`` (it
   happened) or ``ambient approvals retry ID`` (call it again) — unless the server's config
   lists the tool as ``idempotent``: then it is simply called again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mcp import types as mcp_types

from ambient.approvals.executors import (
    DeliveryUncertain,
    ExecutionError,
    ExecutionResult,
    PermanentExecutionError,
)
from ambient.approvals.journal import SENDING, SENT, DeliveryJournal
from ambient.approvals.kinds.base import ExecutorParts
from ambient.approvals.kinds.mcp_call import KIND, McpCall
from ambient.approvals.tables import Approval
from ambient.mcp.catalog import describe_problems, mcp_dir, schema_problems
from ambient.mcp.errors import McpUnavailable, describe
from ambient.mcp.servers import McpServer, McpServers, error_code, tool_entry

RESULT_CHARS = 2_000
# JSON-RPC errors that come before a tool runs (MCP: an unknown tool or invalid arguments is
# INVALID_PARAMS); any other error, or a result marked as one, may come after it partly ran.
NOTHING_RAN = frozenset(
    {mcp_types.PARSE_ERROR, mcp_types.INVALID_REQUEST, mcp_types.METHOD_NOT_FOUND,
     mcp_types.INVALID_PARAMS}
)  # fmt: skip


def build_mcp_executor(parts: ExecutorParts) -> McpExecutor:
    """An executor with servers of its own (the runtime's shares the agent's instead)."""
    settings = parts.settings
    servers = McpServers(settings.mcp, parts.secrets, parts.clock, mcp_dir(settings))
    return McpExecutor(servers, DeliveryJournal(parts.engine, parts.clock))


def result_text(result: Any) -> str:
    """A tool's result as text: its structured content as JSON, else its text blocks."""
    structured = getattr(result, "structured_content", None)
    if structured is not None:
        return json.dumps(structured, ensure_ascii=False)
    parts = []
    for block in getattr(result, "content", None) or []:
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else f"[{getattr(block, 'type', 'content')}]")
    return "\n".join(parts)


def _uncertain(approval_id: int | None, what: str, how: str) -> DeliveryUncertain:
    return DeliveryUncertain(
        f"delivery uncertain: {how} while {what} was running; ambient will not call it again "
        f"on its own — check whether it happened, then `ambient approvals delivered "
        f"{approval_id}` if it did, or `ambient approvals retry {approval_id}` to call it again"
    )


def proves_nothing_ran(error: BaseException) -> bool:
    """Whether the server's error says the call never started: a request it could not read,
    a method it lacks, a tool it does not have or arguments it does not take."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error_code(error) in NOTHING_RAN


def _may_have_run(approval_id: int | None, what: str, said: str) -> PermanentExecutionError:
    return PermanentExecutionError(
        f"{what} answered with an error, after it may have partly run: {said} — check what it "
        f"did before `ambient approvals retry {approval_id}` calls it again"
    )


class McpExecutor:
    def __init__(self, servers: McpServers, journal: DeliveryJournal) -> None:
        self.servers = servers
        self.journal = journal

    async def execute(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        action = KIND.parse(approval.effective_args)
        assert isinstance(action, McpCall)
        what = f"{action.tool} on the MCP server {action.server!r}"
        server = self.servers.get(action.server)
        if server is None:
            raise PermanentExecutionError(f"MCP server {action.server!r} is not configured")
        if not server.config.drafts_tool(action.tool):
            raise PermanentExecutionError(f"{action.tool!r} is not a draft tool of {action.server}")
        stage = await asyncio.to_thread(self.journal.stage, idempotency_key)
        details: dict[str, Any] = {"server": action.server, "tool": action.tool}
        if stage == SENT:
            return ExecutionResult(f"called {what}", {**details, "recovered": "called already"})
        if stage == SENDING and not server.config.is_idempotent(action.tool):
            raise _uncertain(approval.id, what, "ambient stopped")
        try:
            await server.enter()
        except McpUnavailable as error:
            raise ExecutionError(str(error)) from None
        try:
            text = await self._call(server, action, idempotency_key, approval.id, what)
        finally:
            await server.exit()
        return ExecutionResult(f"called {what}", {**details, "result": text[:RESULT_CHARS]})

    async def _check(self, server: McpServer, action: McpCall) -> None:
        """The tool exists and takes these arguments (nothing has been called yet)."""
        try:
            tools = {tool.name: tool for tool in await server.tools()}
        except McpUnavailable as error:
            raise ExecutionError(str(error)) from None
        if action.tool not in tools:
            raise PermanentExecutionError(
                f"the MCP server {action.server!r} has no tool {action.tool!r} (it lists: "
                f"{', '.join(sorted(tools)) or 'none'})"
            )
        schema = tool_entry(tools[action.tool])["input_schema"]
        problems = schema_problems(schema, action.arguments) if isinstance(schema, dict) else []
        if problems:
            raise PermanentExecutionError(
                f"{action.tool}: the arguments do not fit its input schema: "
                f"{describe_problems(problems)}"
            )

    async def _call(
        self, server: McpServer, action: McpCall, key: str, approval_id: int | None, what: str
    ) -> str:
        await self._check(server, action)
        await asyncio.to_thread(self.journal.mark, key, SENDING)
        timeout = server.config.call_timeout_seconds
        call = server.toolset.client.call_tool(
            action.tool,
            action.arguments,
            timeout=timeout,
            raise_on_error=False,
            meta={"idempotency_key": key},
        )
        try:
            result = await server.bounded(call, f"calling {action.tool}", timeout)
        except McpUnavailable as error:  # it broke off, or never answered: it may have run
            if server.config.is_idempotent(action.tool):
                await asyncio.to_thread(self.journal.clear, key)
                raise ExecutionError(str(error)) from None
            raise _uncertain(approval_id, what, f"the call broke off ({error.reason})") from None
        except Exception as error:  # noqa: BLE001 - the server's answer: an error
            await asyncio.to_thread(self.journal.clear, key)
            said = server.hidden(describe(error))
            if proves_nothing_ran(error):
                raise PermanentExecutionError(
                    f"{what} was refused, so nothing ran: {said}"
                ) from None
            raise _may_have_run(approval_id, what, said) from None
        text = result_text(result)
        if getattr(result, "is_error", False):
            await asyncio.to_thread(self.journal.clear, key)
            raise _may_have_run(approval_id, what, server.hidden(text[:300]))
        await asyncio.to_thread(self.journal.mark, key, SENT)
        return text
