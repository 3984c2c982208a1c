"""mcp_call: one call of a tool of an MCP server from ``[[mcp]]``, once the human approves it.

The agent never drafts it as a tool of its own: each configured server's draft tools are the
model's tools (``ambient.agent.mcp``), and a call to one is deferred and queued as this kind —
the server, the tool and its arguments, which the human sees and edits (the arguments as TOML,
or JSON where TOML cannot hold them, like a webhook's payload). The policy gate allows only a
configured server's draft tools, and checks the arguments against the tool's input schema when
its listing is known (``ambient.mcp.catalog``). The outbox calls it at most once: a crash (of
ambient, or of the server) while the call is in flight leaves it dead as "delivery uncertain"
for the human, unless the server's config declares the tool ``idempotent``, which is retried.
A call earns autonomy only when ``autonomy.kinds`` names ``mcp_call`` and the server's
``autonomous`` names the tool: the arguments are the model's, which an email can steer.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from ambient.approvals.executors import Executor
from ambient.approvals.kinds.base import (
    PRIVATE_TEXT,
    ActionArguments,
    ActionKind,
    ExecutorParts,
    Kind,
    PolicyCheck,
    string_values,
)
from ambient.approvals.shown import canonical_json
from ambient.core.config import Settings
from ambient.core.mcp_settings import SERVER_NAME
from ambient.mcp.catalog import ToolCatalog, describe_problems, mcp_dir, schema_problems

SUMMARY_CHARS = 80


class McpCall(ActionArguments):
    server: str = Field(pattern=SERVER_NAME, description="The MCP server, as named in [[mcp]].")
    tool: str = Field(min_length=1, max_length=128, description="The server's tool.")
    arguments: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments.")


class McpCallKind(Kind[McpCall]):
    name = ActionKind.MCP_CALL
    label = "mcp"
    order = 45
    arguments = McpCall
    draft = None  # drafted through the servers' own tools (ambient.agent.mcp)
    body_field = "arguments"
    rules = {
        "mcp_not_allowed": "block",  # not a configured server's draft tool
        "mcp_arguments_invalid": "block",  # not what the tool's input schema accepts
        "body_too_large": "block",
        "private_memory_in_draft": "warn",
    }

    @property
    def drafted_by_agent(self) -> bool:
        return True

    def call_args(self, args: dict[str, Any], rationale: str) -> dict[str, Any]:
        return dict(args.get("arguments") or {})

    def approved(self, args: dict[str, Any]) -> str:
        return f"{args['tool']} on the MCP server {args['server']}"

    def concerns(self, args: dict[str, Any]) -> str:
        return str(args.get("server", ""))

    def summary(self, args: dict[str, Any], fallback: str = "") -> str:
        arguments = json.dumps(args.get("arguments") or {}, ensure_ascii=False)
        text = f"{args.get('tool', '')} {arguments}"
        return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"

    def headline(self, args: dict[str, Any]) -> str:
        return f"MCP {args.get('server', '')}: {self.summary(args)}"

    def outgoing_texts(self, args: dict[str, Any]) -> list[str]:
        return list(string_values(args.get("arguments") or {}))

    def autonomy_scope(self, args: dict[str, Any]) -> str | None:
        """One tool of one server (``crm/add_note``); its arguments are the model's, so only
        a tool the server's ``autonomous`` names is ever approved by rule."""
        return f"{args.get('server', '')}/{args.get('tool', '')}"

    def autonomy_refusal(self, scope: str, settings: Settings) -> str | None:
        server_name, _, tool = scope.partition("/")  # a server's name has no `/`
        server = next((server for server in settings.mcp if server.name == server_name), None)
        if server is None:
            return f"the MCP server {server_name!r} is not configured"
        if not server.is_autonomous(tool):
            return f"{tool!r} is not in autonomous of the MCP server {server_name!r}"
        return None

    def check(self, action: McpCall, check: PolicyCheck) -> None:
        settings = check.settings
        servers = {server.name: server for server in (settings.mcp if settings else [])}
        server = servers.get(action.server)
        if settings is None or server is None:
            known = ", ".join(sorted(servers)) or "none"
            check.add(
                "mcp_not_allowed",
                f"MCP server {action.server!r} is not configured (servers in [[mcp]]: {known})",
            )
        elif not server.drafts_tool(action.tool):
            check.add(
                "mcp_not_allowed",
                f"{action.tool!r} is not a draft tool of the MCP server {server.name!r} "
                f"(drafts = {server.drafts})",
            )
        else:
            listed = ToolCatalog(mcp_dir(settings)).tools(server.name)
            if listed is not None and action.tool not in listed:
                check.add(
                    "mcp_not_allowed",
                    f"the MCP server {server.name!r} does not list a tool {action.tool!r}",
                )
            entry = (listed or {}).get(action.tool)
            schema = entry.get("input_schema") if entry is not None else None
            if isinstance(schema, dict):
                problems = schema_problems(schema, action.arguments)
                if problems:
                    check.add("mcp_arguments_invalid", describe_problems(problems))
        check.size(len(canonical_json(action.arguments)), "arguments")
        copied = check.copied_private_text(string_values(action.arguments))
        if copied:
            check.add(
                "private_memory_in_draft",
                f"sends {PRIVATE_TEXT} word for word ({copied}) to the MCP server "
                f"{action.server!r}",
            )

    def build_executor(self, parts: ExecutorParts) -> Executor | None:
        """Its own servers when built alone; the runtime hands in the executor that shares the
        agent's servers (one process per server)."""
        if not parts.settings.mcp:
            return None
        from ambient.approvals.executors.mcp import build_mcp_executor  # MCP client: on use

        return build_mcp_executor(parts)


KIND = McpCallKind()
