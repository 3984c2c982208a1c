"""Open memory proposals set against a new one and against the file: no duplicates, none dead.

Reflection learns from each correction on its own, so two corrections teaching one lesson
would queue one diff twice, and once either was applied the other could only fail. Instead:

- A new proposal whose change the file already has, or that an open proposal for the same file
  (waiting for a decision, or approved and not run yet) already makes, is dropped; the log names
  the proposal that covers it.
- A new proposal that changes the same lines as an open one, differently, is queued with a
  rationale naming the other. It is not merged into it: two different changes to the same
  lines are alternatives (two wordings of a lesson, or a second thought on the first), choosing
  is the human's call, and a mechanical merge would keep both or guess; replacing the open one
  would also change a proposal the human may be reading. Whichever is approved first lands; the
  other then no longer applies and, if approved, is proposed again against the new text.
- Once a change is applied, waiting proposals for that file whose change the file now has are
  closed as "already applied" (ignored by ambient, saying so) instead of failing later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import col, select

from ambient.approvals.appliers import closer
from ambient.approvals.decisions import lock_approval, settle_item
from ambient.approvals.kinds import ActionKind
from ambient.approvals.tables import AWAITING_HUMAN, Approval, ApprovalStatus, Decision
from ambient.core.db import read_session, write_session
from ambient.core.diffs import DiffConflict, DiffError, already_applied, apply_diff
from ambient.core.errors import AmbientError
from ambient.memory.names import normalise_name, resolve_in_folder

log = logging.getLogger(__name__)

OPEN = frozenset(
    {*AWAITING_HUMAN, ApprovalStatus.APPROVED, ApprovalStatus.EXECUTING, ApprovalStatus.FAILED}
)
"""A proposal in these states may still be applied."""


@dataclass(frozen=True)
class Comparison:
    """A new proposal against the open ones for its file."""

    in_file: bool = False  # the file already has this change
    covered_by: Approval | None = None  # an open proposal already makes this change
    overlapping: list[Approval] = field(default_factory=list)  # same lines, changed differently

    @property
    def covers(self) -> str | None:
        """What already makes this change, in words (None: nothing does, queue it)."""
        if self.in_file:
            return "the file"
        if self.covered_by is not None:
            return f"approval {self.covered_by.id} ({self.covered_by.status.value})"
        return None


def _file_of(row: Approval) -> str | None:
    try:
        return normalise_name(str(row.effective_args.get("file", "")))
    except AmbientError:
        return None


def open_proposals(
    engine: Engine, file: str, statuses: frozenset[ApprovalStatus] = OPEN
) -> list[Approval]:
    """memory_update approvals for `file` in these states, oldest first."""
    query = (
        select(Approval)
        .where(Approval.kind == ActionKind.MEMORY_UPDATE, col(Approval.status).in_(statuses))
        .order_by(col(Approval.id))
    )
    with read_session(engine) as session:
        rows = list(session.exec(query))
    name = normalise_name(file)
    return [row for row in rows if _file_of(row) == name]


def compare(engine: Engine, file: str, current: str, diff: str) -> Comparison:
    """How a new proposal (`diff` against the file's `current` text) relates to the file and
    to the open proposals for it."""
    if already_applied(current, diff):
        return Comparison(in_file=True)
    overlapping: list[Approval] = []
    for row in open_proposals(engine, file):
        other = str(row.effective_args.get("diff", ""))
        try:
            after = apply_diff(current, other)
        except DiffError:  # it no longer applies: it covers nothing (it is proposed again)
            continue
        if already_applied(after, diff):
            return Comparison(covered_by=row)
        try:
            apply_diff(after, diff)
        except DiffConflict:
            overlapping.append(row)
    return Comparison(overlapping=overlapping)


def close_applied(
    engine: Engine,
    now: datetime,
    *,
    folder: Path,
    file: str,
    revision: str,
    actor: str,
    applied_id: int | None = None,
) -> list[int]:
    """Close the proposals waiting for `file` whose change it now has (after `revision`)."""
    path = resolve_in_folder(folder, file)
    text = path.read_text("utf-8") if path.exists() else ""
    closed: list[int] = []
    for row in open_proposals(engine, file, AWAITING_HUMAN):
        if row.id is None or row.id == applied_id:
            continue
        try:
            present = already_applied(text, str(row.effective_args.get("diff", "")))
        except DiffError:
            continue
        if not present:
            continue
        by = f" by approval {applied_id}" if applied_id is not None else ""
        message = f"already applied: {file} has this change since {revision[:10]}{by}"
        with write_session(engine) as session:
            locked = lock_approval(session, engine, row.id)
            if locked is None or locked.status not in AWAITING_HUMAN:
                continue
            closer(Decision.IGNORED, message, actor)(session, locked, now)
            session.add(locked)
            settle_item(session, locked.item_id, now)
        closed.append(row.id)
        log.info("memory: approval=%s closed: %s (item=%s)", row.id, message, row.item_id)
    return closed
