"""The outbox's executor for approved ``memory_update`` actions: no model call, exactly once.

It applies the approved diff to the file as it is now and commits it (see changes.py); the
approval's idempotency key is written into the commit, so a repeat after a crash finds the
commit and writes nothing. When the user edited the lines the diff changes since it was
proposed, nothing is written: the change is recorded for the Reflector to propose again against
the new text, and the approval ends as not executed, saying so. When the file already has the
change (an identical proposal was applied first), it ends as executed, "already applied". Each
commit is an audit entry; after one, waiting proposals the file now covers are closed.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ambient.approvals.executors import (
    ExecutionError,
    ExecutionResult,
    PermanentExecutionError,
)
from ambient.approvals.kinds.memory_update import KIND as MEMORY_UPDATE
from ambient.approvals.tables import Approval
from ambient.core.clock import Clock
from ambient.core.diffs import DiffError
from ambient.core.errors import AmbientError, NotFoundError
from ambient.core.paths import UnsafePath
from ambient.memory.audit import MemoryAudit
from ambient.memory.causes import commit_subject, describe_cause
from ambient.memory.changes import AppliedChange, ChangeConflict, MemoryChanges
from ambient.memory.history import MemoryHistoryError
from ambient.memory.proposals import close_applied
from ambient.memory.reproposals import ReproposalQueue

log = logging.getLogger(__name__)

ACTOR = "outbox"  # who the audit entries of its memory commits name


class MemoryUpdateExecutor:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        folder: Path,
        *,
        changes: MemoryChanges | None = None,
        reproposals: ReproposalQueue | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.changes = changes or MemoryChanges(folder, audit=MemoryAudit(engine, clock, ACTOR))
        self.reproposals = reproposals or ReproposalQueue(engine, clock)

    async def execute(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        return await asyncio.to_thread(self._execute, approval, idempotency_key)

    def _execute(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        update = MEMORY_UPDATE.parse(approval.effective_args)
        cause = describe_cause(self.engine, approval.tool_call_id)
        edited = " (edited by the user before approval)" if approval.edited_args else ""
        reason = f"{update.reason}\n\nApproval {approval.id}{edited}, item {approval.item_id}."
        try:
            applied = self.changes.apply(
                file=update.file,
                diff=update.diff,
                base_sha256=update.base_sha256,
                subject=commit_subject(update.file, cause),
                reason=reason,
                key=idempotency_key,
                approval_id=approval.id,
                item_id=approval.item_id,
            )
        except ChangeConflict as conflict:
            assert approval.id is not None
            self.reproposals.add(
                approval_id=approval.id,
                item_id=approval.item_id,
                trace_id=approval.trace_id,
                cause=approval.tool_call_id,
                file=conflict.file,
                diff=update.diff,
                reason=update.reason,
                conflict=str(conflict),
            )
            log.info(
                "memory: approval=%s item=%s conflicts with a change of %s; re-proposing",
                approval.id, approval.item_id, conflict.file,
            )  # fmt: skip
            kept = "your edit is kept and " if conflict.by_hand else ""
            raise PermanentExecutionError(
                f"not applied: {conflict}; {kept}the change will be proposed again against "
                "the new text"
            ) from conflict
        except (DiffError, UnsafePath) as error:
            raise PermanentExecutionError(f"not applied: {error}") from error
        except (MemoryHistoryError, NotFoundError, OSError) as error:
            raise ExecutionError(f"memory folder: {error}") from error
        if applied.already_present:
            summary = (
                f"{applied.file}: already applied (the file has this change, "
                f"as of {applied.revision[:10]}); nothing written"
            )
        elif applied.already_applied:
            summary = f"{applied.file}: already committed as {applied.revision[:10]}"
        else:
            summary = f"{applied.file}: committed as {applied.revision[:10]}"
        self._close_covered(applied, approval.id)
        return ExecutionResult(
            summary,
            {"file": applied.file, "revision": applied.revision, "sha256": applied.new_sha256},
        )

    def _close_covered(self, applied: AppliedChange, approval_id: int | None) -> None:
        """Waiting proposals whose change the file now has are closed, not left to fail."""
        try:
            close_applied(
                self.engine,
                self.clock.now(),
                folder=self.changes.folder,
                file=applied.file,
                revision=applied.revision,
                actor=ACTOR,
                applied_id=approval_id,
            )
        except (OSError, SQLAlchemyError, AmbientError):  # the change is committed: tidy later
            log.exception("memory: approval=%s: closing covered proposals failed", approval_id)
