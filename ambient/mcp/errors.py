"""A server that is down, and errors from a server in one line (no MCP client imported)."""

from __future__ import annotations

from ambient.core.errors import AmbientError


class McpUnavailable(AmbientError):
    """A server that is down: which, and why (with the tail of its stderr)."""

    def __init__(self, server: str, reason: str) -> None:
        super().__init__(f"mcp server {server!r} is unavailable: {reason}")
        self.server = server
        self.reason = reason


def describe(error: BaseException) -> str:
    """The innermost error of a group or a chain, in one line (`Type: message`)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if not str(error).strip() and error.__cause__ is not None:
        error = error.__cause__
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
