"""A kind's arguments as text a human edits (in $EDITOR or in the TUI), and back.

The text reads like an email: one `Name: value` header per argument, a blank line, then the
long argument (the body of an email, the content of a note, the diff of a memory update).
Lists are comma-separated. Lines at the top that start with `#` are comments and are ignored.
A body that is data rather than text (a webhook's payload) is TOML, or JSON where TOML cannot
hold it (a null); either is read back. The CLI's `ambient approvals edit` and the TUI use this
one format; parsing back validates against the kind's own model (see ``Kind.from_text``).
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

import tomli_w
from pydantic import BaseModel

from ambient.core.errors import DecisionError


class DraftTextError(DecisionError):
    """The edited text cannot be turned back into valid arguments (says where and why)."""


_HEADER_NAMES = {"url": "URL", "base_sha256": "Base-SHA256", "cc": "Cc"}


def header_name(field: str) -> str:
    """`subject` -> `Subject`, `base_sha256` -> `Base-SHA256`: an argument as a header."""
    return _HEADER_NAMES.get(field) or "-".join(part.capitalize() for part in field.split("_"))


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def is_list(model: type[BaseModel], field: str) -> bool:
    annotation = model.model_fields[field].annotation
    return getattr(annotation, "__origin__", None) is list or annotation is list


def _is_text(model: type[BaseModel], field: str) -> bool:
    return model.model_fields[field].annotation is str


def value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(entry) for entry in value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def first_line(text: str) -> str:
    """The first line with words on it, stripped (a summary of a text)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _comments(comment: str) -> list[str]:
    return [f"# {line}" if line else "#" for line in comment.splitlines()]


def data_text(value: Any) -> str:
    """Data as a human edits it: TOML when TOML can hold it, indented JSON otherwise."""
    if isinstance(value, dict) and value:
        try:
            return tomli_w.dumps(value, multiline_strings=True)
        except (TypeError, ValueError):  # e.g. a null, which TOML has no word for
            pass
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def read_data(kind: str, what: str, text: str) -> Any:
    """Data back from its text: JSON when it starts with `{` or `[` and reads as JSON, TOML
    otherwise (a TOML table such as `[event]` starts with `[` too)."""
    stripped = text.strip()
    if not stripped:
        return {}
    json_error: json.JSONDecodeError | None = None
    if stripped[0] in "{[":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as error:
            json_error = error
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        if json_error is not None and stripped[0] == "{":
            raise DraftTextError(f"{kind}: {what}: not JSON: {json_error}") from None
        raise DraftTextError(f"{kind}: {what}: not TOML: {error}") from None


def to_text(
    model: type[BaseModel], body_field: str | None, args: dict[str, Any], *, comment: str = ""
) -> str:
    """The editable text of arguments; `comment` goes at the top as `#` lines."""
    lines = _comments(comment)
    for field in model.model_fields:
        if field != body_field:
            # a value of several lines goes on indented continuation lines
            shown = value_text(args.get(field, "")).replace("\n", "\n  ")
            lines.append(f"{header_name(field)}: {shown}")
    body = args.get(body_field, "") if body_field else ""
    if not isinstance(body, str):
        body = data_text(body)
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
    kind: str, model: type[BaseModel], body_field: str | None, lines: list[str], first_line: int
) -> tuple[dict[str, Any], int]:
    fields = {_normal(name): name for name in model.model_fields}
    args: dict[str, Any] = {}
    index = 0
    last: str | None = None
    while index < len(lines) and lines[index].strip():
        line = lines[index]
        if line[:1] in (" ", "\t") and last is not None and isinstance(args.get(last), str):
            args[last] = f"{args[last]}\n{line.strip()}"  # a continuation of the value above
            index += 1
            continue
        name, separator, value = line.partition(":")
        if not separator:
            raise DraftTextError(
                f"{kind}: line {first_line + index}: expected `Name: value` before the blank line,"
                f" got {line[:60]!r}"
            )
        field = fields.get(_normal(name))
        if field is None or field == body_field:
            known = ", ".join(header_name(f) for f in model.model_fields if f != body_field)
            raise DraftTextError(
                f"{kind}: line {first_line + index}: unknown header {name.strip()!r}"
                f" (expected {known})"
            )
        value = value.strip()
        if is_list(model, field):
            args[field] = [part.strip() for part in value.split(",") if part.strip()]
        else:
            args[field] = _header_value(model, field, value)
        last = field
        index += 1
    return args, index


def _header_value(model: type[BaseModel], field: str, value: str) -> Any:
    if _is_text(model, field):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def from_text(
    kind: str,
    model: type[BaseModel],
    body_field: str | None,
    text: str,
    *,
    final_newline: bool = True,
) -> dict[str, Any]:
    """The arguments in edited text, not yet validated; DraftTextError for text that is not
    headers and a body. `final_newline`: a text body ends with one (a note, a diff)."""
    lines, comments = _strip_comments(text)
    args, end = _parse_headers(kind, model, body_field, lines, comments + 1)
    if body_field is not None:
        body = "\n".join(lines[end + 1 :])
        if _is_text(model, body_field):
            ending = "\n" if final_newline else ""
            args[body_field] = body.rstrip("\n") + ending if body.strip() else ""
        else:
            args[body_field] = read_data(kind, header_name(body_field), body)
    return args


def shown_headers(
    model: type[BaseModel], body_field: str | None, args: dict[str, Any]
) -> list[tuple[str, str]]:
    """`(Header, value)` for each argument with a value but the body: the model's order,
    arguments it does not know after."""
    names = list(model.model_fields)
    ordered = [n for n in names if n in args] + [n for n in args if n not in names]
    return [
        (header_name(name), value_text(args[name]))
        for name in ordered
        if name != body_field and args[name] not in ([], "", None)
    ]


def shown_body(body_field: str | None, args: dict[str, Any]) -> str | None:
    if body_field is None or body_field not in args:
        return None
    body = args[body_field]
    return body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False)


def json_text(args: dict[str, Any], *, comment: str = "") -> str:
    """Arguments of a kind without a model, as JSON."""
    return "\n".join([*_comments(comment), json.dumps(args, indent=2, ensure_ascii=False)]) + "\n"


def json_args(kind: str, text: str) -> dict[str, Any]:
    lines, _comments_count = _strip_comments(text)
    try:
        parsed = json.loads("\n".join(lines))
    except json.JSONDecodeError as error:
        raise DraftTextError(f"{kind}: not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise DraftTextError(f"{kind}: expected a JSON object of arguments")
    return parsed
