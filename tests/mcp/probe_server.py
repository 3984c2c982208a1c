"""An MCP server for the tests, written with the `mcp` Python SDK: a read tool, a write tool that
records each call to a file, and ways to misbehave.

    python probe_server.py                 stdio
    python probe_server.py http PORT       streamable HTTP on 127.0.0.1:PORT, path /mcp

Environment: PROBE_CALLS (the file each `record` call appends one JSON line to), PROBE_LOOKUP
(what `lookup` answers, `{key}` filled in), PROBE_BROKEN (a file: while it exists, the server
exits at start with a message on stderr), PROBE_TOKEN (over HTTP, `lookup` wants it as a bearer
token), PROBE_START=hang (it never answers), PROBE_BLOCK (a
file: `record` writes its call, then waits while the file exists — a call a test can kill).
`fail` answers with each kind of error, before or after it recorded the call.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from mcp import types
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError

app = MCPServer("probe")


@app.tool()
def lookup(key: str, ctx: Context) -> str:
    """Look a customer up by key."""
    token = os.environ.get("PROBE_TOKEN")
    if token and (ctx.headers or {}).get("authorization") != f"Bearer {token}":
        raise ValueError("unauthorized: no valid bearer token")
    if key.startswith("env:"):  # what the server's environment holds
        return os.environ.get(key.removeprefix("env:"), "(not set)")
    answer = os.environ.get("PROBE_LOOKUP", "customer {key}: Dana Example, plan gold")
    return answer.replace("{key}", key)


@app.tool()
def record(text: str, priority: int = 1) -> str:
    """Record a note in the customer system."""
    with Path(os.environ["PROBE_CALLS"]).open("a", encoding="utf-8") as calls:
        calls.write(json.dumps({"text": text, "priority": priority}) + "\n")
    block = os.environ.get("PROBE_BLOCK")
    while block and Path(block).exists():
        time.sleep(0.05)
    return f"recorded {text!r}"


@app.tool()
def fail(text: str, how: str) -> str:
    """Record a note, and fail: `refuse` before recording anything (invalid params), `protocol`
    after recording it (an internal error), `tool` after recording it (an error result)."""
    if how == "refuse":
        raise MCPError(code=types.INVALID_PARAMS, message="text: not a note this system takes")
    record(text)
    if how == "protocol":
        raise MCPError(code=types.INTERNAL_ERROR, message="the database went away mid-write")
    raise ValueError("half of the note was written")  # the SDK answers: "Error executing tool"


@app.tool()
def purge(everything: bool = True) -> str:
    """Delete every record (never configured: the agent must not reach it)."""
    Path(os.environ["PROBE_CALLS"]).write_text("PURGED\n", encoding="utf-8")
    return "purged"


def main() -> None:
    print(f"probe server starting (pid {os.getpid()})", file=sys.stderr, flush=True)
    broken = os.environ.get("PROBE_BROKEN")
    if broken and Path(broken).exists():
        print("probe: cannot open the customer database: /nonexistent/db", file=sys.stderr)
        sys.exit(3)
    if os.environ.get("PROBE_START") == "hang":
        time.sleep(3600)
    if sys.argv[1:2] == ["http"]:
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        app.run()


if __name__ == "__main__":
    main()
