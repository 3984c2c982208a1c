"""The outbox: the daemon runs approved actions, exactly once, with retries.

    approved ──claim──► executing ──► executed
                           │  ├──► failed ──(backoff)──► executing …
                           │  └──► dead (after outbox.max_attempts, or a permanent error)
                           └──► blocked (the policy gate, checked again right before running)
    approved by a rule ──claim──► pending (the rule no longer holds: back to the human)

A claim is a lease (SQLite: BEGIN IMMEDIATE; Postgres: FOR UPDATE SKIP LOCKED, so several
daemons share the outbox). A row left "executing" by a crashed process is claimed again when
its lease expires (at start-up at once, when that process was on this host and is gone) and run
again with the same idempotency key; each executor makes that repeat harmless (see
ambient.approvals.executors). Executors run the approved arguments as they are: no model is
called.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_
from sqlmodel import Session, col, select

from ambient.approvals import autonomy, outcomes
from ambient.approvals.audit import append_entry
from ambient.approvals.decisions import (
    human_recipients,
    items_to_settle,
    lock_approval,
    settle_item,
)
from ambient.approvals.events import ApprovalEvents, notify
from ambient.approvals.executors import (
    ExecutionError,
    Executor,
    PermanentExecutionError,
)
from ambient.approvals.outcomes import Outcome
from ambient.approvals.policy import PolicyGate, PolicyReport
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.clock import Clock
from ambient.core.config import Secrets, Settings
from ambient.core.db import is_sqlite, read_session, write_session
from ambient.core.errors import AmbientError
from ambient.core.leases import LEASE_ENDED, holder_is_dead, holder_name

log = logging.getLogger(__name__)


class Outbox:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        settings: Settings,
        secrets: Secrets,
        policy: PolicyGate,
        executors: dict[str, Executor],
        owner: str | None = None,
        events: ApprovalEvents | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self.outbox_settings = settings.outbox
        self.secrets = secrets
        self.policy = policy
        self.executors = dict(executors)
        self.owner = owner or holder_name("outbox")
        self.events = events  # e.g. TracedApprovals: executions as steps on the item's trace

    async def tick(self) -> int:
        """Run up to ``outbox.batch_size`` due actions; returns how many were executed.

        Each action is claimed just before it runs, so its lease (``outbox.lease_seconds``,
        longer than any executor's timeout) covers its own execution only.
        """
        executed = 0
        for _ in range(self.outbox_settings.batch_size):
            claimed = await asyncio.to_thread(self.claim, 1)
            if not claimed:
                break
            if await self.run(claimed[0]):
                executed += 1
        await asyncio.to_thread(self.settle_items)
        return executed

    async def run_until_idle(self, max_rounds: int = 100) -> int:
        """Tick until nothing is due (tests, `ambient run --once`)."""
        total = 0
        for _ in range(max_rounds):
            if not await asyncio.to_thread(self._due_count):
                break
            total += await self.tick()
        return total

    # ---- claiming ----------------------------------------------------------------------
    def _due(self, now: datetime) -> Any:
        return and_(
            col(Approval.kind).in_(sorted(self.executors)),
            or_(
                and_(
                    col(Approval.status) == ApprovalStatus.APPROVED,
                    or_(
                        col(Approval.next_attempt_at).is_(None),
                        col(Approval.next_attempt_at) <= now,
                    ),
                ),
                and_(
                    col(Approval.status) == ApprovalStatus.FAILED,
                    col(Approval.next_attempt_at) <= now,
                ),
                and_(
                    col(Approval.status) == ApprovalStatus.EXECUTING,
                    col(Approval.lease_expires_at) < now,
                ),
            ),
        )

    def _due_count(self) -> int:
        query = select(func.count()).select_from(Approval).where(self._due(self.clock.now()))
        with read_session(self.engine) as session:
            return int(session.exec(query).one())

    def claim(self, limit: int | None = None) -> list[Approval]:
        """Lease up to `limit` due actions (oldest first; default outbox.batch_size). A due row
        that is not to run after all (crashed too often; approved by a rule that no longer
        holds, see ambient.approvals.autonomy) is settled here, and the next one is taken."""
        now = self.clock.now()
        wanted = limit or self.outbox_settings.batch_size
        claimed: list[Approval] = []
        with write_session(self.engine) as session:
            while len(claimed) < wanted:
                query = (
                    select(Approval)
                    .where(self._due(now))
                    .order_by(col(Approval.id))
                    .limit(wanted - len(claimed))
                )
                if not is_sqlite(self.engine):
                    query = query.with_for_update(skip_locked=True)
                rows = list(session.exec(query))
                if not rows:
                    break
                claimed += [row for row in rows if self._lease(session, row, now)]
        return claimed

    def _lease(self, session: Session, row: Approval, now: datetime) -> bool:
        """Lease one due row to this process (False: it is not to run, and no longer due)."""
        recovered = row.status == ApprovalStatus.EXECUTING
        if recovered and row.attempts >= self.outbox_settings.max_attempts:
            self._record(session, row, now, outcomes.crashed_too_often)
            return False
        if autonomy.is_automatic(row.decided_by) and row.delivery_stage is None:
            if autonomy.hold_back(session, row, self.settings, self._gate(row), now):
                settle_item(session, row.item_id, now)
                return False
        if recovered:
            log.warning(
                "approval=%s lease of %s expired; running it again (same key)",
                row.id,
                row.lease_owner,
            )
        row.status = ApprovalStatus.EXECUTING
        row.lease_owner = self.owner
        row.lease_expires_at = now + timedelta(seconds=self.outbox_settings.lease_seconds)
        row.attempts += 1
        session.add(row)
        append_entry(
            session,
            at=now,
            actor="outbox",
            event="executing",
            approval_id=row.id,
            item_id=row.item_id,
            details={"attempt": row.attempts, "recovered": recovered, "owner": self.owner},
        )
        return True

    def _gate(self, row: Approval) -> PolicyReport:
        """The policy gate on what is about to run, as it stands now."""
        return self.policy.check(
            row.kind,
            row.effective_args,
            thread_addresses=row.thread_addresses,
            human_recipients=human_recipients(row),
            provenance=row.provenance,
        )

    # ---- running -----------------------------------------------------------------------
    async def run(self, row: Approval) -> bool:
        """Execute one claimed row and record the outcome; True when it was executed."""
        assert row.id is not None and row.idempotency_key is not None
        if row.delivery_stage is None:  # nothing has begun: the gate decides again
            report = self._gate(row)
            if report.blocked:
                blocked = outcomes.blocked(report.block_reason or "")
                await asyncio.to_thread(self._finish, row.id, blocked)
                return False
        executor = self.executors[row.kind]
        log.info(
            "executing approval=%s kind=%s item=%s trace=%s attempt=%s",
            row.id,
            row.kind,
            row.item_id,
            row.trace_id,
            row.attempts,
        )
        try:
            result = await executor.execute(row, row.idempotency_key)
        except PermanentExecutionError as error:
            failure = outcomes.failed(self.outbox_settings, error, permanent=True)
        except (ExecutionError, AmbientError, OSError) as error:
            failure = outcomes.failed(self.outbox_settings, error, permanent=False)
        except Exception as error:  # noqa: BLE001 - an executor's bug belongs to this action
            log.exception("approval=%s executor raised", row.id)
            failure = outcomes.failed(self.outbox_settings, error, permanent=False)
        else:
            return await asyncio.to_thread(self._finish, row.id, outcomes.executed(result))
        await asyncio.to_thread(self._finish, row.id, failure)
        return False

    def _held(self, session: Session, approval_id: int) -> Approval | None:
        row = lock_approval(session, self.engine, approval_id)
        if row is None or row.status != ApprovalStatus.EXECUTING or row.lease_owner != self.owner:
            log.warning("approval=%s lease lost; outcome not recorded here", approval_id)
            return None
        return row

    def _record(self, session: Session, row: Approval, now: datetime, outcome: Outcome) -> str:
        event, details = outcome(row, now)
        row.lease_owner = None
        row.lease_expires_at = None
        session.add(row)
        append_entry(
            session,
            at=now,
            actor="outbox",
            event=event,
            approval_id=row.id,
            item_id=row.item_id,
            details=details,
        )
        settle_item(session, row.item_id, now)
        return event

    def _finish(self, approval_id: int, outcome: Outcome) -> bool:
        """Record one outcome on a row this process still holds, with its audit entry."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = self._held(session, approval_id)
            if row is None:
                return False
            event = self._record(session, row, now, outcome)
        notify(self.events, "executed", row, event)
        return True

    # ---- items -------------------------------------------------------------------------
    def settle_items(self, limit: int = 100) -> int:
        """Items awaiting approval whose approvals are all final become done (a decision made
        before the worker finished the item is caught here)."""
        with read_session(self.engine) as session:
            item_ids = items_to_settle(session, limit)
        if not item_ids:
            return 0
        now = self.clock.now()
        with write_session(self.engine) as session:
            for item_id in item_ids:
                settle_item(session, item_id, now)
        return len(item_ids)


def reclaim_dead_leases(
    engine: Engine, clock: Clock, is_dead: Callable[[str], bool] = holder_is_dead
) -> list[int]:
    """At start-up: end at once the leases of holders that are surely dead (a process on this
    host that is gone); the next claim runs those actions again with the same key, as after an
    expired lease. Other hosts' leases are left to expire. Returns the approval ids."""
    now = clock.now()
    reclaimed: list[int] = []
    with write_session(engine) as session:
        query = select(Approval).where(
            col(Approval.status) == ApprovalStatus.EXECUTING,
            col(Approval.lease_expires_at) >= now,
        )
        for row in session.exec(query):
            if row.id is None or not is_dead(row.lease_owner or ""):
                continue
            row.lease_expires_at = now - LEASE_ENDED
            session.add(row)
            reclaimed.append(row.id)
            log.warning(
                "approval=%s lease of %s, a process no longer running on this host; reclaimed",
                row.id,
                row.lease_owner,
            )
    return reclaimed
