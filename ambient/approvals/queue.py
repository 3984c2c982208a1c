"""The approvals queue: drafted actions in, human decisions on exactly what was shown.

One Python API for the TUI and the CLI. Every decision carries the hash of what the human
was shown (:func:`ApprovalQueue.shown_hash`); it runs in one write transaction on the locked row
(SQLite: BEGIN IMMEDIATE; Postgres: SELECT … FOR UPDATE), so of two concurrent decisions on the
same row exactly one wins and the other is refused with the reason.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from ambient.approvals.actions import validate_action
from ambient.approvals.audit import append_entry, args_diff
from ambient.approvals.decisions import (
    DecisionOutcome,
    dump_args,
    human_recipients,
    lock_approval,
    record_decision,
    recipients,
    refresh_hash,
    refusal,
    reset_to_review,
    schedule_execution,
    settle_item,
)
from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.models import (
    UNDOABLE,
    Approval,
    ApprovalStatus,
    Decision,
    ReflectionStatus,
)
from ambient.approvals.policy import PolicyGate
from ambient.approvals.shown import canonical_json, compute_shown_hash
from ambient.clock import Clock
from ambient.config import Settings
from ambient.db import read_session, write_session
from ambient.errors import DecisionError, NotFoundError

log = logging.getLogger(__name__)

Apply = Callable[[Session, Approval, datetime], str | None]
"""Applies a decision to a locked, decidable row; returns a refusal reason or None."""


class ApprovalQueue:
    def __init__(self, engine: Engine, clock: Clock, settings: Settings, policy: PolicyGate) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self.policy = policy

    # ---- drafts in ---------------------------------------------------------------------
    def queue_drafts(
        self,
        *,
        context: ActionContext,
        trace_id: str,
        run_state: str | None,
        drafts: Sequence[DraftedAction],
        parent_id: int | None = None,
    ) -> builtins.list[Approval]:
        """Record drafts for review, through the policy gate (blocked ones say why).

        With `parent_id` (a revision after feedback) the parent is marked revised in the same
        transaction, so a crashed and repeated revision cannot queue the drafts twice.
        """
        now = self.clock.now()
        rows: builtins.list[Approval] = []
        with write_session(self.engine) as session:
            if parent_id is not None:
                self._mark_parent_revised(session, parent_id, now)
            for draft in drafts:
                rows.append(self._queue_one(session, draft, context, trace_id, run_state, parent_id, now))
            settle_item(session, context.item_id, now)
        for row in rows:
            log.info(
                "queued approval=%s kind=%s item=%s trace=%s status=%s",
                row.id, row.kind, row.item_id, row.trace_id, row.status.value,
            )
        return rows

    def _queue_one(
        self,
        session: Session,
        draft: DraftedAction,
        context: ActionContext,
        trace_id: str,
        run_state: str | None,
        parent_id: int | None,
        now: datetime,
    ) -> Approval:
        report = self.policy.check(
            draft.kind, draft.args, thread_addresses=context.thread_addresses
        )
        try:
            args = validate_action(draft.kind, draft.args)
        except DecisionError:
            args = draft.args  # kept as drafted; the row is blocked with the reason
        row = Approval(
            item_id=context.item_id,
            parent_id=parent_id,
            kind=draft.kind,
            tool_call_id=draft.tool_call_id,
            args_json=canonical_json(args),
            rationale=draft.rationale,
            run_state=run_state,
            trace_id=trace_id,
            status=ApprovalStatus.BLOCKED if report.blocked else ApprovalStatus.PENDING,
            item_version=context.item_version,
            thread_addresses_json=canonical_json(sorted(context.thread_addresses)),
            thread_head_id=context.item_id,
            policy_warnings_json=canonical_json(report.warnings),
            block_reason=report.block_reason,
            created_at=now,
            queued_at=now,
        )
        session.add(row)
        session.flush()
        refresh_hash(row)
        append_entry(
            session, at=now, actor="agent", event="blocked" if report.blocked else "queued",
            approval_id=row.id, item_id=row.item_id,
            details={
                "kind": row.kind, "args": args, "trace_id": trace_id, "parent_id": parent_id,
                "warnings": report.warnings, "block_reason": report.block_reason,
            },
        )
        return row

    def _mark_parent_revised(self, session: Session, parent_id: int, now: datetime) -> None:
        parent = lock_approval(session, self.engine, parent_id)
        if parent is None:
            raise NotFoundError(f"approval {parent_id} does not exist")
        if parent.status != ApprovalStatus.FEEDBACK:
            raise DecisionError(f"approval {parent_id} is {parent.status.value}, not feedback")
        if parent.revised_at is not None:
            raise DecisionError(f"approval {parent_id} was already revised")
        parent.revised_at = now
        session.add(parent)
        append_entry(
            session, at=now, actor="agent", event="revised",
            approval_id=parent.id, item_id=parent.item_id,
        )

    # ---- decisions ---------------------------------------------------------------------
    def shown_hash(self, approval: Approval) -> str:
        """The hash of what is shown for this row; a decision must carry it."""
        return compute_shown_hash(approval)

    def approve(
        self, approval_id: int, *, shown_hash: str, acknowledge_warnings: bool = False, actor: str
    ) -> Approval:
        return self._decide_one(approval_id, shown_hash, actor, self._approver(acknowledge_warnings, actor))

    def approve_many(
        self, decisions: Iterable[tuple[int, str]], *, acknowledge_warnings: bool = False, actor: str
    ) -> builtins.list[DecisionOutcome]:
        return self._decide(decisions, actor, self._approver(acknowledge_warnings, actor))

    def edit(
        self,
        approval_id: int,
        *,
        shown_hash: str,
        args: dict[str, Any],
        actor: str,
        acknowledge_warnings: bool = False,
    ) -> Approval:
        """Approve with changed arguments (validated against the action's schema and re-checked
        by the policy gate; recipients the human adds are theirs, not "outside the thread")."""

        def apply(session: Session, row: Approval, now: datetime) -> str | None:
            try:
                new_args = validate_action(row.kind, args)
            except DecisionError as error:
                return f"approval {row.id}: invalid edit: {error}"
            typed = frozenset(recipients(row.kind, new_args) - recipients(row.kind, row.args))
            report = self.policy.check(
                row.kind, new_args, thread_addresses=row.thread_addresses, human_recipients=typed
            )
            if report.blocked:
                return f"approval {row.id}: the edited action is blocked: {report.block_reason}"
            if report.warnings and not acknowledge_warnings:
                return f"approval {row.id}: acknowledge the warnings first: " + "; ".join(report.warnings)
            changes = args_diff(row.args, new_args)
            row.edited_args_json = dump_args(new_args) if changes else None
            row.policy_warnings_json = canonical_json(report.warnings)
            row.block_reason = None
            row.warnings_acknowledged = bool(report.warnings)
            row.decision = Decision.EDITED if changes else Decision.APPROVED
            if changes:
                row.reflection_status = ReflectionStatus.PENDING
            record_decision(row, now, actor)
            schedule_execution(row, now)
            self._audit(session, row, now, actor, row.decision.value, {"changes": changes, "warnings": report.warnings})
            return None

        return self._decide_one(approval_id, shown_hash, actor, apply)

    def feedback(self, approval_id: int, *, shown_hash: str, message: str, actor: str) -> Approval:
        """Deny with a message: the agent resumes its run with it and drafts again."""
        if not message.strip():
            raise DecisionError("feedback needs a message for the agent")
        return self._decide_one(approval_id, shown_hash, actor, self._closer(Decision.FEEDBACK, message, actor))

    def reject(self, approval_id: int, *, shown_hash: str, reason: str, actor: str) -> Approval:
        return self._decide_one(approval_id, shown_hash, actor, self._closer(Decision.REJECTED, reason, actor))

    def reject_many(
        self, decisions: Iterable[tuple[int, str]], *, reason: str, actor: str
    ) -> builtins.list[DecisionOutcome]:
        return self._decide(decisions, actor, self._closer(Decision.REJECTED, reason, actor))

    def ignore(self, approval_id: int, *, shown_hash: str, actor: str) -> Approval:
        return self._decide_one(approval_id, shown_hash, actor, self._closer(Decision.IGNORED, None, actor))

    def ignore_many(
        self, decisions: Iterable[tuple[int, str]], *, actor: str
    ) -> builtins.list[DecisionOutcome]:
        return self._decide(decisions, actor, self._closer(Decision.IGNORED, None, actor))

    def undo(self, approval_id: int, actor: str) -> Approval:
        """Take a decision back while nothing has run: the row waits for review again."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = lock_approval(session, self.engine, approval_id)
            if row is None:
                raise NotFoundError(f"approval {approval_id} does not exist")
            reason = None
            if row.status not in UNDOABLE:
                reason = f"approval {approval_id} is {row.status.value}: nothing to undo"
            elif row.status == ApprovalStatus.FEEDBACK and row.revised_at is not None:
                reason = f"approval {approval_id}: the agent already revised it"
            if reason is None:
                previous = row.decision.value if row.decision else row.status.value
                reset_to_review(row, now)
                report = self.policy.check(row.kind, row.args, thread_addresses=row.thread_addresses)
                row.status = ApprovalStatus.BLOCKED if report.blocked else ApprovalStatus.PENDING
                row.block_reason = report.block_reason
                row.policy_warnings_json = canonical_json(report.warnings)
                refresh_hash(row)
                session.add(row)
                self._audit(session, row, now, actor, "undone", {"undone": previous})
                settle_item(session, row.item_id, now)
        if reason is not None:
            raise DecisionError(reason)
        return row

    def retry(self, approval_id: int, actor: str) -> Approval:
        """A human's "run it again" for a dead action (e.g. delivery uncertain, checked: not sent)."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = lock_approval(session, self.engine, approval_id)
            if row is None:
                raise NotFoundError(f"approval {approval_id} does not exist")
            if row.status != ApprovalStatus.DEAD:
                raise DecisionError(f"approval {approval_id} is {row.status.value}, not dead")
            row.status = ApprovalStatus.APPROVED
            row.attempts = 0
            row.next_attempt_at = now
            row.delivery_stage = None
            row.delivery_stage_at = None
            session.add(row)
            self._audit(session, row, now, actor, "retried", {"last_error": row.last_error})
            settle_item(session, row.item_id, now)
        return row

    def _approver(self, acknowledge_warnings: bool, actor: str) -> Apply:
        def apply(session: Session, row: Approval, now: datetime) -> str | None:
            if row.status == ApprovalStatus.BLOCKED:
                return f"approval {row.id} is blocked by policy: {row.block_reason} (edit or reject it)"
            if row.warnings and not acknowledge_warnings:
                return f"approval {row.id}: acknowledge the warnings first: " + "; ".join(row.warnings)
            row.decision = Decision.APPROVED
            row.warnings_acknowledged = bool(row.warnings)
            record_decision(row, now, actor)
            schedule_execution(row, now)
            self._audit(session, row, now, actor, "approved", {"warnings": row.warnings})
            return None

        return apply

    def _closer(self, decision: Decision, message: str | None, actor: str) -> Apply:
        status = {
            Decision.FEEDBACK: ApprovalStatus.FEEDBACK,
            Decision.REJECTED: ApprovalStatus.REJECTED,
            Decision.IGNORED: ApprovalStatus.IGNORED,
        }[decision]

        def apply(session: Session, row: Approval, now: datetime) -> str | None:
            row.status = status
            row.decision = decision
            row.decision_message = message
            if decision != Decision.IGNORED:
                row.reflection_status = ReflectionStatus.PENDING
            record_decision(row, now, actor)
            self._audit(session, row, now, actor, decision.value, {"message": message})
            return None

        return apply

    def _audit(
        self, session: Session, row: Approval, now: datetime, actor: str, event: str, details: dict[str, Any]
    ) -> None:
        append_entry(
            session, at=now, actor=actor, event=event, approval_id=row.id, item_id=row.item_id,
            details={"kind": row.kind, "shown_hash": row.shown_hash, **details},
        )

    def _decide_one(self, approval_id: int, shown_hash: str, actor: str, apply: Apply) -> Approval:
        (outcome,) = self._decide([(approval_id, shown_hash)], actor, apply)
        if outcome.approval is None:
            raise NotFoundError(outcome.reason or f"approval {approval_id} does not exist")
        if not outcome.ok:
            raise DecisionError(outcome.reason or "refused")
        return outcome.approval

    def _decide(
        self, decisions: Iterable[tuple[int, str]], actor: str, apply: Apply
    ) -> builtins.list[DecisionOutcome]:
        """Apply one decision to each row in one transaction; refusals don't stop the others,
        and re-queued (stale) rows are committed with the rest."""
        now = self.clock.now()
        outcomes: builtins.list[DecisionOutcome] = []
        with write_session(self.engine) as session:
            for approval_id, shown_hash in decisions:
                row = lock_approval(session, self.engine, approval_id)
                if row is None:
                    outcomes.append(DecisionOutcome(approval_id, False, f"approval {approval_id} does not exist"))
                    continue
                reason = refusal(session, row, shown_hash, now, self.settings.approvals.expire_hours, actor)
                if reason is None:
                    reason = apply(session, row, now)
                if reason is None:
                    session.add(row)
                    settle_item(session, row.item_id, now)
                    log.info("approval=%s %s by %s", row.id, row.status.value, actor)
                else:
                    session.add(row)
                    log.info("approval=%s decision refused: %s", row.id, reason)
                outcomes.append(DecisionOutcome(approval_id, reason is None, reason, row))
        return outcomes

    # ---- the feedback loop and learning ------------------------------------------------
    def awaiting_revision(self, limit: int = 20) -> builtins.list[Approval]:
        """Rows denied with feedback that the agent has not revised yet, oldest first."""
        query = (
            select(Approval)
            .where(Approval.status == ApprovalStatus.FEEDBACK, col(Approval.revised_at).is_(None))
            .order_by(col(Approval.decided_at), col(Approval.id))
            .limit(limit)
        )
        with read_session(self.engine) as session:
            return builtins.list(session.exec(query))

    def mark_revised(self, approval_id: int, new_ids: Sequence[int]) -> None:
        """The agent revised a feedback row (new_ids may be empty: nothing more to draft)."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = lock_approval(session, self.engine, approval_id)
            if row is None:
                raise NotFoundError(f"approval {approval_id} does not exist")
            if row.revised_at is not None:
                return
            row.revised_at = now
            session.add(row)
            append_entry(
                session, at=now, actor="agent", event="revised", approval_id=row.id,
                item_id=row.item_id, details={"new_ids": builtins.list(new_ids)},
            )
            settle_item(session, row.item_id, now)

    def pending_reflections(self, limit: int = 20) -> builtins.list[Approval]:
        """Rows decided with edit, feedback or reject that memory has not learned from yet."""
        query = (
            select(Approval)
            .where(Approval.reflection_status == ReflectionStatus.PENDING)
            .order_by(col(Approval.decided_at), col(Approval.id))
            .limit(limit)
        )
        with read_session(self.engine) as session:
            return builtins.list(session.exec(query))

    def mark_reflected(self, approval_id: int) -> None:
        with write_session(self.engine) as session:
            row = lock_approval(session, self.engine, approval_id)
            if row is None:
                raise NotFoundError(f"approval {approval_id} does not exist")
            row.reflection_status = ReflectionStatus.DONE
            session.add(row)

    # ---- reads -------------------------------------------------------------------------
    def get(self, approval_id: int) -> Approval:
        with read_session(self.engine) as session:
            row = session.get(Approval, approval_id)
        if row is None:
            raise NotFoundError(f"approval {approval_id} does not exist")
        return row

    def human_recipients(self, approval: Approval) -> frozenset[str]:
        return human_recipients(approval)

    def counts(self) -> dict[str, int]:
        by_status = {status.value: 0 for status in ApprovalStatus}
        with read_session(self.engine) as session:
            for status, count in session.exec(
                select(Approval.status, func.count()).group_by(Approval.status)
            ):
                by_status[ApprovalStatus(status).value] = count
        return by_status

    def list(
        self,
        statuses: Iterable[ApprovalStatus | str] | None = None,
        *,
        item_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
        newest_first: bool = False,
    ) -> builtins.list[Approval]:
        """Rows by status (all when None), oldest first unless `newest_first`."""
        order = col(Approval.id).desc() if newest_first else col(Approval.id)
        query = select(Approval).order_by(order).offset(offset).limit(limit)
        if statuses is not None:
            query = query.where(col(Approval.status).in_([ApprovalStatus(s) for s in statuses]))
        if item_id is not None:
            query = query.where(Approval.item_id == item_id)
        with read_session(self.engine) as session:
            return builtins.list(session.exec(query))
