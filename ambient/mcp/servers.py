"""The MCP servers ambient talks to: each one's Pydantic AI toolset, its stderr and its health.

A server is Pydantic AI's own ``MCPToolset`` (a stdio process through FastMCP's
``StdioTransport``, kept alive between agent runs, or a streamable-HTTP URL): no protocol code
here. What ambient adds is that a server is never allowed to fail an item: starting it and
listing its tools are bounded by ``start_timeout_seconds``, every call by
``call_timeout_seconds``, and a server that does not start, hangs or crashes is recorded as
down (:class:`McpUnavailable`, naming it, with the tail of its stderr, logged once), left out
for ``retry_seconds`` (doubling up to ``retry_max_seconds``), and tried again after that by the
next run that wants it. A stdio server's stderr goes to ``<data dir>/mcp/<name>.stderr.log``.
Its secrets never reach an error, a log line or a stderr tail (:meth:`McpServer.hidden`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import anyio
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import McpError, ToolError
from mcp import types as mcp_types
from pydantic_ai.exceptions import ApprovalRequired, CallDeferred, ModelRetry, ToolFailed
from pydantic_ai.mcp import MCPToolset

from ambient.core.clock import Clock
from ambient.core.config import Secrets, literal_secrets
from ambient.core.mcp_settings import McpServerSettings
from ambient.mcp.catalog import ToolCatalog
from ambient.mcp.errors import McpUnavailable, describe

log = logging.getLogger(__name__)

T = TypeVar("T")

GRACE_SECONDS = 2.0  # between ambient's timeouts and the MCP client's (ambient's come first)
STDERR_TAIL_LINES = 8
STDERR_TAIL_BYTES = 4096
STDERR_MAX_BYTES = 1 << 20  # the log starts again from empty past this, when the server starts
MIN_SECRET_CHARS = 4  # shorter values would hide ordinary words
REDACTED = "[redacted]"
# what a server or a tool answered (the model sees it), not a sign that the server is down
ANSWERS = (ToolError, McpError, ToolFailed, ModelRetry, ApprovalRequired, CallDeferred)
BROKEN = frozenset({mcp_types.CONNECTION_CLOSED, mcp_types.REQUEST_TIMEOUT})  # gone, or no answer


def error_code(error: BaseException) -> int | None:
    """The JSON-RPC error code of an MCP error (None: not one)."""
    if not isinstance(error, McpError):
        return None
    code = getattr(error, "code", None)  # the SDK's v2 has `code`, v1 `error.code`
    return code if isinstance(code, int) else getattr(getattr(error, "error", None), "code", None)


def is_answer(error: BaseException) -> bool:
    """Whether the server answered (a tool error, a refused request) rather than broke."""
    if isinstance(error, BaseExceptionGroup):
        return all(is_answer(inner) for inner in error.exceptions)
    if isinstance(error, McpError):
        return error_code(error) not in BROKEN
    return isinstance(error, ANSWERS)


class McpServer:
    def __init__(
        self,
        config: McpServerSettings,
        secrets: Secrets,
        clock: Clock,
        folder: Path,
        catalog: ToolCatalog,
    ) -> None:
        self.config = config
        self.name = config.name
        self.secrets = secrets
        self.clock = clock
        self.folder = folder
        self.catalog = catalog
        self.stderr_path = folder / f"{config.name}.stderr.log"
        self.failures = 0
        self.retry_at: datetime | None = None
        self.last_error: str | None = None
        self._toolset: MCPToolset[Any] | None = None
        self._listed: object = None  # the listing last saved to the catalog
        self._stderr_from = 0
        # values that never reach a log line or an error: its secrets, those written in the
        # file first (every literal header, secret-looking env values), then those read
        self._hidden: list[str] = literal_secrets(config.headers, config.env)

    # ---- the toolset ---------------------------------------------------------------------
    @property
    def toolset(self) -> MCPToolset[Any]:
        """Pydantic AI's toolset for the server, built on first use: a missing secret is then
        this server's failure (a ConfigError), not the daemon's."""
        if self._toolset is None:
            self._toolset = self._build()
        return self._toolset

    def _from_environment(self, names: Mapping[str, str], setting: str) -> dict[str, str]:
        values = {
            key: self.secrets.require(name, f"mcp server {self.name!r}: {setting}.{key}")
            for key, name in names.items()
        }
        self._hidden += values.values()
        return values

    def _build(self) -> MCPToolset[Any]:
        config = self.config
        toolset_id = f"mcp-{self.name}"
        if config.url is not None:
            headers = {**config.headers, **self._from_environment(config.headers_from, "headers")}
            return MCPToolset(
                config.url,
                id=toolset_id,
                headers=headers or None,
                tool_error_behavior="error",
                init_timeout=config.start_timeout_seconds + GRACE_SECONDS,
                read_timeout=config.call_timeout_seconds,
            )
        assert config.command is not None
        env = {**config.env, **self._from_environment(config.env_from, "env_from")}
        self.folder.mkdir(parents=True, exist_ok=True)
        transport = StdioTransport(
            config.command,
            list(config.args),
            env=env or None,
            cwd=str(config.cwd.expanduser()) if config.cwd is not None else None,
            keep_alive=True,
            log_file=self.stderr_path,
        )
        return MCPToolset(
            transport,
            id=toolset_id,
            tool_error_behavior="error",
            init_timeout=config.start_timeout_seconds + GRACE_SECONDS,
            read_timeout=config.call_timeout_seconds,
        )

    # ---- health --------------------------------------------------------------------------
    def available(self) -> bool:
        """False while a server that failed waits for its retry."""
        return self.retry_at is None or self.clock.now() >= self.retry_at

    def failed(self, reason: str) -> McpUnavailable:
        """Record that the server is down (logged, with its stderr tail); the error to raise.
        Runs that see the same failure at once count it, and report it, once."""
        if not self.available():
            return McpUnavailable(self.name, self.last_error or self.hidden(reason))
        self.failures += 1
        delay = min(
            self.config.retry_seconds * 2 ** (self.failures - 1), self.config.retry_max_seconds
        )
        self.retry_at = self.clock.now() + timedelta(seconds=delay)
        tail = self.stderr_tail()
        self.last_error = self.hidden(reason) + (f"; stderr: {tail}" if tail else "")
        log.warning(
            "mcp server=%s unavailable (failure %d), its tools left out for %.0fs: %s",
            self.name,
            self.failures,
            delay,
            self.last_error,
        )
        return McpUnavailable(self.name, self.last_error)

    def _recovered(self) -> None:
        if self.failures:
            log.info("mcp server=%s is up again after %d failure(s)", self.name, self.failures)
        self.failures = 0
        self.retry_at = None
        self.last_error = None

    def stderr_tail(self) -> str:
        """The last lines the server wrote to stderr since it was last started (its secrets
        hidden), joined by ` | `; empty for an HTTP server or a quiet one."""
        try:
            with self.stderr_path.open("rb") as handle:
                size = handle.seek(0, 2)
                handle.seek(max(self._stderr_from, size - STDERR_TAIL_BYTES))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line.strip()[:300] for line in self.hidden(text).splitlines() if line.strip()]
        return " | ".join(lines[-STDERR_TAIL_LINES:])

    def hidden(self, text: str) -> str:
        """`text` with this server's secrets (read from the environment, or written in the
        file: every literal header, secret-looking env values) replaced by ``[redacted]``."""
        for secret in sorted(self._hidden, key=len, reverse=True):
            if len(secret) >= MIN_SECRET_CHARS:
                text = text.replace(secret, REDACTED)
        return text

    def _mark_stderr(self) -> None:
        """Where this start's stderr begins (the log is emptied first when it grew large)."""
        try:
            size = self.stderr_path.stat().st_size
        except OSError:
            size = 0
        if size > STDERR_MAX_BYTES:
            self.stderr_path.write_bytes(b"")
            size = 0
        self._stderr_from = size

    # ---- using it ------------------------------------------------------------------------
    async def enter(self) -> MCPToolset[Any]:
        """Connect (starting the process if need be) within the start timeout; pair with
        :meth:`exit`. McpUnavailable when it is down or waiting for its retry."""
        if not self.available():
            raise McpUnavailable(self.name, f"{self.last_error} (tried again from {self.retry_at})")
        timeout = self.config.start_timeout_seconds
        try:
            toolset = self.toolset
            if not toolset.is_running:
                self._mark_stderr()
            with anyio.fail_after(timeout):  # before the client's own, which says less
                await toolset.__aenter__()
        except TimeoutError as error:
            raise self.failed(f"did not start within {timeout:g}s") from error
        except Exception as error:  # noqa: BLE001 - whatever stops it, the server is down
            raise self.failed(f"did not start: {describe(error)}") from error
        self._recovered()
        return toolset

    async def exit(self) -> None:
        try:
            await self.toolset.__aexit__(None, None, None)
        except Exception as error:  # noqa: BLE001 - a session that ended badly is closed anyway
            log.info("mcp server=%s: closing the session: %s", self.name, describe(error))

    async def bounded(self, work: Awaitable[T], what: str, timeout: float) -> T:
        """`work` within `timeout`; anything but the server's own answer marks it down."""
        try:
            with anyio.fail_after(timeout + GRACE_SECONDS):
                return await work
        except TimeoutError as error:
            raise self.failed(f"{what}: no answer within {timeout:g}s") from error
        except Exception as error:  # noqa: BLE001 - the server broke, not the caller
            if is_answer(error):
                raise
            raise self.failed(f"{what}: {describe(error)}") from error

    async def tools(self) -> list[Any]:
        """The server's tools (MCP ``Tool`` objects; cached by the toolset while connected),
        bounded; a new listing is saved to the catalog for the policy gate."""
        listed = await self.bounded(
            self.toolset.list_tools(), "listing its tools", self.config.start_timeout_seconds
        )
        if listed is not self._listed:
            self._listed = listed
            self.catalog.save(self.name, [tool_entry(tool) for tool in listed])
        return listed

    async def aclose(self) -> None:
        """Stop the server's process (stdio) and forget its session."""
        if self._toolset is None:
            return
        try:
            await self._toolset.client.close()  # type: ignore[no-untyped-call]
        except Exception as error:  # noqa: BLE001 - closing must go on to the other servers
            log.info("mcp server=%s: closing: %s", self.name, describe(error))


def tool_entry(tool: Any) -> dict[str, Any]:
    """An MCP ``Tool`` as the catalog keeps it (the wire names, whichever SDK is installed)."""
    wire = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {
        "name": wire.get("name", ""),
        "description": wire.get("description", ""),
        "input_schema": wire.get("inputSchema", {}),
    }


class McpServers:
    """Every configured server, by name: one per process, shared by the agent and the outbox."""

    def __init__(
        self,
        configs: Sequence[McpServerSettings],
        secrets: Secrets,
        clock: Clock,
        folder: Path,
    ) -> None:
        catalog = ToolCatalog(folder)
        self.by_name = {
            config.name: McpServer(config, secrets, clock, folder, catalog) for config in configs
        }

    def __iter__(self) -> Iterator[McpServer]:
        return iter(list(self.by_name.values()))

    def __len__(self) -> int:
        return len(self.by_name)

    def get(self, name: str) -> McpServer | None:
        return self.by_name.get(name)

    async def aclose(self) -> None:
        for server in self:
            await server.aclose()
