"""A human's edit of an action's arguments: in $EDITOR or the TUI, `--set key=value`, `--args-json`.

The editor (the CLI's and the TUI's alike) shows the action in its kind's one text form
(``ambient.approvals.kinds.text_form``): `Name: value` headers, a blank line, the body; an
email reads like an email. Saving it unchanged (or emptying it) cancels the edit. `--set` and
`--args-json` stay for scripts.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from ambient.approvals.kinds import KINDS
from ambient.core.editing import EditorError, edit_text
from ambient.core.errors import DecisionError

EDITOR_COMMENT = (
    "`Name: value` lines, a blank line, then the text; lists comma-separated.\n"
    "Lines starting with # are ignored."
)


def draft_to_text(kind: str, args: dict[str, Any], *, comment: str = "") -> str:
    """The editable text of a draft; `comment` goes at the top as `#` lines."""
    return KINDS.of(kind).to_text(args, comment=comment)


def text_to_args(kind: str, text: str) -> dict[str, Any]:
    """Parse edited text and validate it; raises DecisionError saying what is wrong and where."""
    return KINDS.of(kind).from_text(text)


def normalized_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments as they come back from an unchanged edit (trailing newlines settled)."""
    return text_to_args(kind, draft_to_text(kind, args))


def apply_sets(
    args: dict[str, Any], assignments: list[str], list_fields: Collection[str] | None = None
) -> dict[str, Any]:
    """`key=value` pairs over the arguments: JSON values as JSON, a list field (`list_fields`;
    default: any kind's) from comma-separated text ("to=a@x.com, b@y.com"), else as text."""
    if list_fields is None:
        list_fields = {name for kind in KINDS for name in kind.list_fields}
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
        if key in list_fields and isinstance(value, str):
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


def edit_in_editor(
    editor: str, kind: str, approval_id: int, args: dict[str, Any]
) -> dict[str, Any] | None:
    """Open the action in the editor; the edited arguments (validated), or None when cancelled."""
    comment = (
        f"Approval {approval_id} ({kind}). Save to approve the edit; save it unchanged or\n"
        f"empty to cancel.\n{EDITOR_COMMENT}"
    )
    text = draft_to_text(kind, args, comment=comment)
    try:
        edited = edit_text(editor, text, f"approval-{approval_id}.txt")
    except EditorError as error:
        raise DecisionError(f"{error}: nothing decided") from None
    content = [line for line in edited.splitlines() if not line.startswith("#")]
    if edited == text or not "".join(content).strip():
        return None
    return text_to_args(kind, edited)
