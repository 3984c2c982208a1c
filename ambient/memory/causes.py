"""Which human decision a memory change was learned from, as its commit message says it.

A memory_update approval's ``tool_call_id`` is ``reflection-<approval id>``: the approval whose
edit, feedback or rejection taught it. Revisions and re-proposals keep it, so the commit that
finally lands still names the original decision. One learned from the user's sent mail
(``ambient memory learn-style``) is ``learn-style-<digest of its diff>``; one learned from an
ignore decision the human overturned (``ambient items overturn``) is ``overturn-<item id>``.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine

from ambient.approvals.tables import Approval
from ambient.core.db import read_session

CAUSE_PREFIX = "reflection-"
OVERTURN_CAUSE = "overturn-"  # + the item id: an ignore decision the human overturned
_OVERTURN = re.compile(rf"^{OVERTURN_CAUSE}(\d+)$")
_CAUSE = re.compile(rf"^{CAUSE_PREFIX}(\d+)$")
STYLE_CAUSE = "learn-style-"
STYLE_CAUSE_TEXT = "your sent mail"
_NOUNS = {
    "edited": "edit of",
    "feedback": "feedback on",
    "rejected": "rejection of",
    "answered": "answer to",
}


def cause_id(approval_id: int) -> str:
    """The tool_call_id of a memory_update learned from approval `approval_id`."""
    return f"{CAUSE_PREFIX}{approval_id}"


def overturn_cause(item_id: int) -> str:
    """The tool_call_id of a memory_update learned from the overturned ignore of an item."""
    return f"{OVERTURN_CAUSE}{item_id}"


def describe_cause(engine: Engine, tool_call_id: str) -> str | None:
    """'rejection of approval 12 (item 7)' (or 'feedback on approval 12 …') for a
    memory_update's tool_call_id, if known."""
    if tool_call_id.startswith(STYLE_CAUSE):
        return STYLE_CAUSE_TEXT
    if overturned := _OVERTURN.match(tool_call_id):
        return f"the overturned ignore of item {overturned.group(1)}"
    match = _CAUSE.match(tool_call_id)
    if match is None:
        return None
    with read_session(engine) as session:
        cause = session.get(Approval, int(match.group(1)))
    if cause is None:
        return f"approval {match.group(1)}"
    decision = cause.decision.value if cause.decision else cause.status.value
    noun = _NOUNS.get(decision, f"{decision} of")
    return f"{noun} approval {cause.id} (item {cause.item_id})"


def commit_subject(file: str, cause: str | None) -> str:
    return f"memory: {file} — learned from {cause}" if cause else f"memory: {file} — update"
