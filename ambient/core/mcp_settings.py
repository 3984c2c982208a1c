"""`[[mcp]]` in ambient.toml: the MCP servers whose tools the agent may use, and how far.

Each server is a stdio ``command`` (with ``args``, ``env``, ``cwd``) or a streamable-HTTP
``url`` (with ``headers``). Secrets stay out of the file: ``env_from`` and ``headers_from`` name
the variables (environment or ``.env``) that hold them, as ``password_env`` does for an account.
Per server, the tools the agent may call freely (``read_only``: their results reach it as
untrusted data), the tools whose calls become drafts the human approves (``drafts``; ``"*"``:
every tool that is not read-only), and the draft tools that are safe to run twice
(``idempotent``: retried after a crash instead of ending "delivery uncertain"), and the draft
tools whose calls may earn autonomy (``autonomous``, each named: the arguments are the model's;
see ``ambient.approvals.autonomy``). A tool in neither read_only nor drafts is never offered to
the model. Every problem is a ConfigError that names the server::

    [[mcp]]
    name = "memory"
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-memory"]
    env_from = { MEMORY_FILE_PATH = "AMBIENT_MEMORY_GRAPH" }
    read_only = ["read_graph", "search_nodes", "open_nodes"]
    drafts = ["create_entities", "add_observations"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ambient.core.named_entries import checked_entry, entry_problem

ALL_TOOLS = "*"
# The name goes into the model's tool names (`mcp_<name>_<tool>`): short, and no `_` in it, so
# a tool name reads back as its server and tool.
SERVER_NAME = r"^[a-z0-9][a-z0-9-]{0,19}$"


def _problem(name: object, message: str) -> PydanticCustomError:
    return entry_problem("mcp server", name, message)


class McpServerSettings(BaseModel):
    """One ``[[mcp]]`` server (see the module's doc)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SERVER_NAME)  # lower-case letters, digits and `-`
    command: str | None = Field(default=None, min_length=1)  # a stdio server
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, repr=False)  # for the server; never logged
    env_from: dict[str, str] = Field(default_factory=dict)  # VAR = "variable holding its value"
    cwd: Path | None = None
    url: str | None = None  # a streamable-HTTP server, e.g. "http://127.0.0.1:8931/mcp"
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    headers_from: dict[str, str] = Field(default_factory=dict)  # Header = "variable holding it"
    read_only: list[str] = Field(default_factory=list)
    drafts: list[str] = Field(default_factory=list)
    idempotent: list[str] = Field(default_factory=list)
    autonomous: list[str] = Field(default_factory=list)  # draft tools that may earn autonomy
    start_timeout_seconds: float = Field(default=20.0, gt=0)  # starting it and listing its tools
    call_timeout_seconds: float = Field(default=60.0, gt=0)  # one tool call
    result_max_chars: int = Field(default=4_000, ge=200)  # a read-only result, as the model sees it
    retry_seconds: float = Field(default=30.0, ge=0)  # a server that is down: tried again after
    retry_max_seconds: float = Field(default=900.0, ge=0)  # …doubling up to this

    @model_validator(mode="wrap")
    @classmethod
    def _checked(
        cls, data: Any, handler: ModelWrapValidatorHandler[McpServerSettings]
    ) -> McpServerSettings:
        return checked_entry("mcp server", data, handler)

    def _problem(self) -> str | None:
        if (self.command is None) == (self.url is None):
            return "give either `command` (a stdio server) or `url` (streamable HTTP)"
        if self.url is not None:
            if urlsplit(self.url).scheme not in ("http", "https") or not urlsplit(self.url).netloc:
                return "url: expected an http:// or https:// URL"
            if self.args or self.env or self.env_from or self.cwd is not None:
                return "args, env, env_from and cwd are for a stdio `command`, not a `url`"
        elif self.headers or self.headers_from:
            return "headers and headers_from are for a `url`, not a stdio `command`"
        tools = [*self.read_only, *self.drafts, *self.idempotent, *self.autonomous]
        if any(not tool.strip() for tool in tools):
            return "a tool name is empty"
        for setting in ("read_only", "autonomous"):
            if ALL_TOOLS in getattr(self, setting):
                return f'{setting}: name each tool; "*" is only for drafts'
        both = sorted(set(self.read_only) & set(self.drafts))
        if both:
            return f"{both[0]!r} is in both read_only and drafts"
        for setting in ("idempotent", "autonomous"):
            not_drafts = [tool for tool in getattr(self, setting) if not self.drafts_tool(tool)]
            if not_drafts:
                return f"{setting}: {not_drafts[0]!r} is not one of its drafts"
        return None

    # ---- what the agent may do with a tool -----------------------------------------------
    def is_read_only(self, tool: str) -> bool:
        return tool in self.read_only

    def drafts_tool(self, tool: str) -> bool:
        """Whether a call to `tool` becomes a draft (a read-only tool is never one)."""
        return not self.is_read_only(tool) and (ALL_TOOLS in self.drafts or tool in self.drafts)

    def offers(self, tool: str) -> bool:
        """Whether the model sees `tool` at all."""
        return self.is_read_only(tool) or self.drafts_tool(tool)

    def is_idempotent(self, tool: str) -> bool:
        return ALL_TOOLS in self.idempotent or tool in self.idempotent

    def is_autonomous(self, tool: str) -> bool:
        """Whether calls of `tool` may earn autonomy (named in ``autonomous``, a draft tool)."""
        return tool in self.autonomous and self.drafts_tool(tool)

    @property
    def secret_names(self) -> set[str]:
        """The variables this server's secrets are read from."""
        return {*self.env_from.values(), *self.headers_from.values()}


def _unique_names(servers: list[McpServerSettings]) -> list[McpServerSettings]:
    names = [server.name for server in servers]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise _problem(duplicates[0], "the name is taken by another [[mcp]] server")
    return servers


McpServerList = Annotated[list[McpServerSettings], AfterValidator(_unique_names)]
