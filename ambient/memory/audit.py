"""Memory changes in the audit log: every change applied, every undo, every hand edit committed.

Each is one entry in the approvals' hash chain (:func:`ambient.approvals.audit.append_entry`)
naming the files and the git commit; an applied change also names its approval and item, and
an undo names the approval of the change it reverted, so ``ambient log --approval N`` shows a
proposal's whole life. Git and the database cannot share a transaction: the commit is made
first and its entry appended right after. An applied change is entered once per commit, so an
outbox retry after a crash between the two adds the missing entry and never a second one.

An undo or a hand edit has no retry: when its entry cannot be written (the process died, the
database is down), the commit stands and the entry is *deferred* — never an error, so a command
whose git part worked does not fail and is not run again (a second undo would revert the next
older change). :meth:`MemoryAudit.catch_up`, run before each commit ambient makes in the folder
(so by every daemon pass that changes memory) and by `ambient memory log/undo/edit`, enters each
undo and hand edit of the recent history that has no entry yet, marked ``recorded_late``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from ambient.approvals.audit import append_entry
from ambient.approvals.tables import AuditEntry
from ambient.core.clock import Clock
from ambient.core.db import read_session, write_session
from ambient.core.errors import StorageError
from ambient.memory.history import MemoryCommit, MemoryHistory, MemoryHistoryError, is_hand_edit
from ambient.memory.history import undo_target as undo_target_of

log = logging.getLogger(__name__)

APPLIED = "memory_applied"
UNDONE = "memory_undone"
HAND_EDIT = "memory_hand_edit"
CATCH_UP_COMMITS = 200  # how far back in the history a lost entry is looked for
DATABASE_ERRORS = (SQLAlchemyError, StorageError, OSError)


class MemoryAudit:
    """Appends memory changes to the audit log as `actor` (e.g. "outbox", "cli:robin")."""

    def __init__(self, engine: Engine, clock: Clock, actor: str) -> None:
        self.engine = engine
        self.clock = clock
        self.actor = actor
        self.deferred: list[str] = []  # commits whose entry could not be written (yet)
        self._caught_up_at: str | None = None  # the HEAD the last catch-up found complete

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

    def undone(
        self, *, files: Sequence[str], revision: str, undone_revision: str, late: bool = False
    ) -> None:
        """An undo committed; it names the approval of the change it reverted, when known.
        Deferred, not raised, when the database cannot take it."""
        try:
            reverted = self._entry_for(APPLIED, undone_revision)
            details: dict[str, Any] = {
                "files": list(files),
                "commit": revision,
                "undoes": undone_revision,
                "summary": f"{', '.join(files)}: {undone_revision[:10]} undone as {revision[:10]}",
            }
            approval_id = reverted.approval_id if reverted is not None else None
            item_id = reverted.item_id if reverted is not None else None
            self._append(UNDONE, _late(details, late), approval_id, item_id)
        except DATABASE_ERRORS as error:
            self._defer(revision, error)

    def hand_edit(self, *, files: Sequence[str], revision: str, late: bool = False) -> None:
        """The user's own edit of memory files, committed so no later change hides it.
        Deferred, not raised, when the database cannot take it."""
        details = {
            "files": list(files),
            "commit": revision,
            "summary": f"hand edit of {', '.join(files) or 'memory files'} as {revision[:10]}",
        }
        try:
            self._append(HAND_EDIT, _late(details, late), None, None)
        except DATABASE_ERRORS as error:
            self._defer(revision, error)

    def catch_up(self, history: MemoryHistory) -> int:
        """Enter each undo and hand edit ambient committed among the last CATCH_UP_COMMITS
        commits that has no entry yet (oldest first); the number entered. When the database
        is down, nothing is entered and it is tried again next time. The caller holds the
        history's lock, so no commit is half-way between git and its entry meanwhile."""
        try:
            head = history.head() if history.is_repository else None
        except MemoryHistoryError:
            return 0  # no commit yet
        if head is None or head == self._caught_up_at:
            return 0
        commits = [
            commit
            for commit in reversed(history.log(limit=CATCH_UP_COMMITS))
            if _undo_target(commit) is not None or is_hand_edit(_message(commit))
        ]
        entered = 0
        try:
            known = self._audited_commits() if commits else set()
            for commit in commits:
                if commit.revision in known:
                    continue
                target = _undo_target(commit)
                before = len(self.deferred)
                if target is not None:
                    self.undone(
                        files=commit.files, revision=commit.revision, undone_revision=target,
                        late=True,
                    )  # fmt: skip
                else:
                    self.hand_edit(files=commit.files, revision=commit.revision, late=True)
                if len(self.deferred) > before:
                    return entered  # the database went away: the rest next time
                entered += 1
        except DATABASE_ERRORS as error:
            log.warning("memory: lost audit entries cannot be entered yet: %s", error)
            return entered
        window = {commit.revision for commit in commits}
        self.deferred = [revision for revision in self.deferred if revision not in window]
        self._caught_up_at = head
        if entered:
            log.warning("memory: entered %d audit entr(ies) that had been lost", entered)
        return entered

    def _audited_commits(self) -> set[str]:
        """The commits that undo and hand-edit entries name."""
        query = select(AuditEntry.details_json).where(
            col(AuditEntry.event).in_((UNDONE, HAND_EDIT))
        )
        with read_session(self.engine) as session:
            return {str(json.loads(details).get("commit")) for details in session.exec(query)}

    def _defer(self, revision: str, error: BaseException) -> None:
        self.deferred.append(revision)
        log.warning(
            "memory: %s is committed, but its audit entry cannot be written now (%s); it will "
            "be written later",
            revision[:10],
            error,
        )

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


def _message(commit: MemoryCommit) -> str:
    return f"{commit.subject}\n\n{commit.body}" if commit.body else commit.subject


def _undo_target(commit: MemoryCommit) -> str | None:
    return undo_target_of(_message(commit))


def _late(details: dict[str, Any], late: bool) -> dict[str, Any]:
    """A late entry says so: it was written after a later run found it missing."""
    return {**details, "recorded_late": True} if late else details
