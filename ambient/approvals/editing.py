"""A human's edit of an action's arguments: `--set key=value`, `--args-json`, or $EDITOR.

In the editor the arguments are TOML (multi-line strings read naturally) when TOML can hold
them, JSON otherwise. Saving them unchanged (or emptying the file) cancels the edit.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from ambient.core.errors import DecisionError

LIST_FIELDS = frozenset({"to", "cc", "attachments"})


def apply_sets(args: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """`key=value` pairs over the arguments: JSON values as JSON, a list field from
    comma-separated text ("to=a@x.com, b@y.com"), anything else as text."""
    changed = dict(args)
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DecisionError(f"--set {assignment!r}: expected key=value")
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if key in LIST_FIELDS and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        changed[key] = value
    return changed


def parse_args_json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise DecisionError(f"--args-json: not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise DecisionError("--args-json: expected a JSON object")
    return value


def _document(kind: str, approval_id: int, args: dict[str, Any]) -> tuple[str, str]:
    header = (
        f"# The arguments of approval {approval_id} ({kind}). Save to approve the edit;\n"
        "# save it unchanged or empty to cancel. Lines starting with # are ignored.\n"
    )
    try:
        return header + tomli_w.dumps(args, multiline_strings=True), ".toml"
    except (TypeError, ValueError):  # e.g. null values in a webhook payload
        return json.dumps(args, indent=2, ensure_ascii=False) + "\n", ".json"


def _read_document(text: str, suffix: str) -> dict[str, Any] | None:
    content = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    if not content.strip():
        return None
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        value = json.loads(content)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise DecisionError(f"the edited arguments do not parse: {error}") from None
    if not isinstance(value, dict):
        raise DecisionError("the edited arguments must be an object")
    return value


def edit_in_editor(
    editor: str, kind: str, approval_id: int, args: dict[str, Any]
) -> dict[str, Any] | None:
    """Open the arguments in the editor; the edited arguments, or None when cancelled."""
    text, suffix = _document(kind, approval_id, args)
    with tempfile.TemporaryDirectory(prefix="ambient-edit-") as folder:
        path = Path(folder) / f"approval-{approval_id}{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            completed = subprocess.run([*shlex.split(editor), str(path)], check=False)
        except OSError as error:
            raise DecisionError(f"cannot start the editor {editor!r}: {error}") from None
        if completed.returncode != 0:
            raise DecisionError(f"the editor exited with {completed.returncode}: nothing decided")
        edited = path.read_text(encoding="utf-8")
    if edited == text:
        return None
    return _read_document(edited, suffix)
