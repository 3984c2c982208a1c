"""Memory changes in the audit log: every change applied, every undo, every hand edit committed.

Each is one entry in the approvals' hash chain (:func:`ambient.approvals.audit.append_entry`)
naming the files and the git commit; an applied change also names its approval and item, and
an undo names the approval of the change it reverted, so ``ambient log --approval N`` shows a
proposal's whole life. Git and the database cannot share a transaction: the commit is made
first and its entry appended right after. An applied change is entered once per commit, so an
outbox retry after a crash between the two adds the missing entry and never a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from ambient.approvals.audit import append_entry
from ambient.approvals.tables import AuditEntry
from ambient.core.clock import Clock
from ambient.core.db import read_session, write_session

log = logging.getLogger(__name__)

APPLIED = "memory_applied"
UNDONE = "memory_undone"
HAND_EDIT = "memory_hand_edit"


class MemoryAudit:
    """Appends memory changes to the audit log as `actor` (e.g. "outbox", "cli:robin")."""

    def __init__(self, engine: Engine, clock: Clock, actor: str) -> None:
        self.engine = engine
        self.clock = clock
        self.actor = actor

    def applied(
        self,
        *,
        file: str,
        revision: str,
        approval_id: int | None = None,
        item_id: int | None = None,
        subject: str = "",
    ) -> None:
        """A change committed (approved, or auto-applied); once per commit."""
        if self._entry_for(APPLIED, revision) is not None:
            return
        details = {
            "files": [file],
            "commit": revision,
            "subject": subject,  # the commit's, naming the decision it was learned from
            "summary": f"{file}: change committed as {revision[:10]}",
        }
        self._append(APPLIED, details, approval_id, item_id)

    def undone(self, *, files: Sequence[str], revision: str, undone_revision: str) -> None:
        """An undo committed; it names the approval of the change it reverted, when known."""
        reverted = self._entry_for(APPLIED, undone_revision)
        details = {
            "files": list(files),
            "commit": revision,
            "undoes": undone_revision,
            "summary": f"{', '.join(files)}: {undone_revision[:10]} undone as {revision[:10]}",
        }
        approval_id = reverted.approval_id if reverted is not None else None
        item_id = reverted.item_id if reverted is not None else None
        self._append(UNDONE, details, approval_id, item_id)

    def hand_edit(self, *, files: Sequence[str], revision: str) -> None:
        """The user's own edit of memory files, committed so no later change hides it."""
        details = {
            "files": list(files),
            "commit": revision,
            "summary": f"hand edit of {', '.join(files) or 'memory files'} as {revision[:10]}",
        }
        self._append(HAND_EDIT, details, None, None)

    def _entry_for(self, event: str, revision: str) -> AuditEntry | None:
        query = (
            select(AuditEntry)
            .where(
                AuditEntry.event == event,
                col(AuditEntry.details_json).contains(f'"commit":"{revision}"'),
            )
            .limit(1)
        )
        with read_session(self.engine) as session:
            return session.exec(query).first()

    def _append(
        self, event: str, details: dict[str, Any], approval_id: int | None, item_id: int | None
    ) -> None:
        with write_session(self.engine) as session:
            append_entry(
                session,
                at=self.clock.now(),
                actor=self.actor,
                event=event,
                approval_id=approval_id,
                item_id=item_id,
                details=details,
            )
        log.info("memory: audited %s %s (approval=%s)", event, details["commit"], approval_id)
