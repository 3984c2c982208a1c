"""What each MCP server's tools looked like when last listed, on disk, for every process.

The daemon lists a server's tools when it connects; the listing is kept as one JSON file per
server in ``<data dir>/mcp/``, so the policy gate checks an ``mcp_call``'s arguments against the
tool's input schema in any process (the TUI's edit too), not only in the one that listed it.
A server never listed is "not known": the gate checks the allow-list alone, and the outbox
validates against the live listing before it calls anything.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ambient.core.config import Settings

log = logging.getLogger(__name__)

PROBLEMS_SHOWN = 3


def mcp_dir(settings: Settings) -> Path:
    """Where the MCP servers' listings and stderr logs live."""
    return settings.data_dir / "mcp"


class ToolCatalog:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, server: str) -> Path:
        return self.folder / f"{server}.tools.json"

    def save(self, server: str, tools: Sequence[Mapping[str, Any]]) -> None:
        """Record a listing (`name`, `description`, `input_schema` per tool), atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(server)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            temporary.write_text(json.dumps({"tools": list(tools)}, indent=1), encoding="utf-8")
            os.replace(temporary, path)
        except OSError as error:  # the gate then knows less; nothing fails for it
            log.warning("mcp server=%s: its tool listing was not saved: %s", server, error)
        finally:
            temporary.unlink(missing_ok=True)

    def tools(self, server: str) -> dict[str, Mapping[str, Any]] | None:
        """The server's tools by name as last listed, or None when it never was."""
        try:
            document = json.loads(self._path(server).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        tools = document.get("tools") if isinstance(document, dict) else None
        if not isinstance(tools, list):
            return None
        return {str(tool["name"]): tool for tool in tools if isinstance(tool, dict)}

    def input_schema(self, server: str, tool: str) -> Mapping[str, Any] | None:
        listed = (self.tools(server) or {}).get(tool)
        schema = listed.get("input_schema") if listed is not None else None
        return schema if isinstance(schema, Mapping) else None


def schema_problems(schema: Mapping[str, Any], arguments: Any) -> list[str]:
    """What is wrong with `arguments` for a tool's JSON input schema, one line each (none: they
    fit; a schema that is itself invalid checks nothing)."""
    # Here, not at the top: the mcp_call kind imports this module, and every command reads
    # the kinds; jsonschema is needed only once an MCP call is drafted.
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_class = validator_for(schema)
        validator_class.check_schema(schema)
    except SchemaError as invalid:
        log.warning("an MCP tool's input schema is not a valid JSON schema: %s", invalid.message)
        return []
    validator = validator_class(schema)
    problems = []
    for found in sorted(validator.iter_errors(arguments), key=lambda e: [str(p) for p in e.path]):
        where = ".".join(str(part) for part in found.path) or "arguments"
        problems.append(f"{where}: {found.message[:200]}")
    return problems


def describe_problems(problems: Sequence[str]) -> str:
    shown = "; ".join(problems[:PROBLEMS_SHOWN])
    more = len(problems) - PROBLEMS_SHOWN
    return shown + (f" (and {more} more)" if more > 0 else "")
