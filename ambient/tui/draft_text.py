"""A drafted action as text a human edits (in $EDITOR or in the app), and back.

The format reads like an email: one `Name: value` header per argument, a blank line, then the
long argument (the body of a reply, the content of a note, the payload of a webhook as JSON, the
diff of a memory update). Lists are comma-separated. Lines at the top that start with `#` are
comments and ignored. Parsing back validates against the action's own pydantic model, so what
is approved is exactly what the executor will run.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import BaseModel

from ambient.approvals.actions import ACTION_MODELS, validate_action
from ambient.core.errors import DecisionError

# The argument shown below the headers, per kind (the long one a human mostly edits).
BODY_FIELDS = {
    "reply_email": "body",
    "send_email": "body",
    "write_note": "content",
    "call_webhook": "payload",
    "memory_update": "diff",
}


class DraftTextError(DecisionError):
    """The edited text cannot be turned back into valid arguments (says where and why)."""


_HEADER_NAMES = {"url": "URL", "base_sha256": "Base-SHA256", "cc": "Cc"}


def header_name(field: str) -> str:
    """`subject` -> `Subject`, `base_sha256` -> `Base-SHA256`: an argument as a header."""
    return _HEADER_NAMES.get(field) or "-".join(part.capitalize() for part in field.split("_"))


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _is_list(model: type[BaseModel], field: str) -> bool:
    annotation = model.model_fields[field].annotation
    return getattr(annotation, "__origin__", None) is list or annotation is list


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(entry) for entry in value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def draft_to_text(kind: str, args: dict[str, Any], *, comment: str = "") -> str:
    """The editable text of a draft; `comment` goes at the top as `#` lines."""
    lines = [f"# {line}" if line else "#" for line in comment.splitlines()]
    model = ACTION_MODELS.get(kind)
    if model is None:
        return "\n".join([*lines, json.dumps(args, indent=2, ensure_ascii=False)]) + "\n"
    body_field = BODY_FIELDS.get(kind)
    for field in model.model_fields:
        if field == body_field:
            continue
        lines.append(f"{header_name(field)}: {_value_text(args.get(field, ''))}")
    body = args.get(body_field, "") if body_field else ""
    if not isinstance(body, str):
        body = json.dumps(body, indent=2, ensure_ascii=False)
    # End with a newline, as a text file does: an editor that appends a line (`echo x >> "$1"`)
    # starts a new one rather than gluing it onto the body's last line. Parsing strips it.
    text = "\n".join(lines) + "\n\n" + body
    return text if text.endswith("\n") else text + "\n"


def _strip_comments(text: str) -> tuple[list[str], int]:
    """The lines after the leading `#` comments, and how many comment lines there were."""
    lines = text.replace("\r\n", "\n").split("\n")
    skipped = 0
    while skipped < len(lines) and lines[skipped].startswith("#"):
        skipped += 1
    return lines[skipped:], skipped


def _parse_headers(
    kind: str, model: type[BaseModel], lines: list[str], first_line: int
) -> tuple[dict[str, Any], int]:
    fields = {_normal(name): name for name in model.model_fields}
    args: dict[str, Any] = {}
    index = 0
    while index < len(lines) and lines[index].strip():
        line = lines[index]
        name, separator, value = line.partition(":")
        if not separator:
            raise DraftTextError(
                f"{kind}: line {first_line + index}: expected `Name: value` before the blank line,"
                f" got {line[:60]!r}"
            )
        field = fields.get(_normal(name))
        if field is None or field == BODY_FIELDS.get(kind):
            known = ", ".join(
                header_name(f) for f in model.model_fields if f != BODY_FIELDS.get(kind)
            )
            raise DraftTextError(
                f"{kind}: line {first_line + index}: unknown header {name.strip()!r}"
                f" (expected {known})"
            )
        value = value.strip()
        if _is_list(model, field):
            args[field] = [part.strip() for part in value.split(",") if part.strip()]
        else:
            args[field] = _header_value(model, field, value)
        index += 1
    return args, index


def _header_value(model: type[BaseModel], field: str, value: str) -> Any:
    if model.model_fields[field].annotation is str:
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def text_to_args(kind: str, text: str) -> dict[str, Any]:
    """Parse edited text and validate it; raises DraftTextError saying what is wrong."""
    lines, comments = _strip_comments(text)
    model = ACTION_MODELS.get(kind)
    if model is None:
        try:
            parsed = json.loads("\n".join(lines))
        except json.JSONDecodeError as error:
            raise DraftTextError(f"{kind}: not valid JSON: {error}") from None
        if not isinstance(parsed, dict):
            raise DraftTextError(f"{kind}: expected a JSON object of arguments")
        return parsed
    args, end = _parse_headers(kind, model, lines, comments + 1)
    body_field = BODY_FIELDS.get(kind)
    if body_field is not None:
        body = "\n".join(lines[end + 1 :])
        if _is_text(model, body_field):
            ending = "" if kind in ("reply_email", "send_email") else "\n"
            args[body_field] = body.rstrip("\n") + ending if body.strip() else ""
        else:
            try:
                args[body_field] = json.loads(body) if body.strip() else {}
            except json.JSONDecodeError as error:
                raise DraftTextError(
                    f"{kind}: {header_name(body_field)}: not JSON: {error}"
                ) from None
    return validate_args(kind, args)


def _is_text(model: type[BaseModel], field: str) -> bool:
    return model.model_fields[field].annotation is str


def validate_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """Validated, normalized arguments (raises DecisionError naming the field)."""
    if kind not in ACTION_MODELS:
        return args
    return validate_action(kind, args)


def normalized_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments as they come back from an unchanged edit (trailing newlines settled)."""
    return text_to_args(kind, draft_to_text(kind, args))


def text_diff(before: str, after: str, *, context: int = 3) -> str:
    """A unified diff of two texts (empty when they are the same)."""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), "draft", "edited", n=context, lineterm=""
    )
    return "\n".join(lines)
