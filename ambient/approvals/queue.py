"""The approvals queue: drafted actions in, human decisions on exactly what was shown.

One Python API for the TUI and the CLI. Every decision carries the hash of what the human
was shown (:func:`ApprovalQueue.shown_hash`); it runs in one write transaction on the locked row
(SQLite: BEGIN IMMEDIATE; Postgres: SELECT … FOR UPDATE), so of two concurrent decisions on the
same row exactly one wins and the other is refused with the reason. The rules live beside it:
:mod:`~ambient.approvals.decisions` (staleness, expiry), :mod:`~ambient.approvals.appliers` (what
each decision does), :mod:`~ambient.approvals.intake` (drafts in, through the policy gate),
:mod:`~ambient.approvals.autonomy` (an earned rule that approves at intake; the evidence each
decision adds to it, in the decision's transaction).
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from ambient.approvals import appliers, autonomy, intake
from ambient.approvals.appliers import Apply
from ambient.approvals.decisions import (
    DecisionOutcome,
    human_recipients,
    lock_approval,
    refusal,
    settle_item,
)
from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.events import ApprovalEvents, notify
from ambient.approvals.kinds import KINDS
from ambient.approvals.policy import PolicyGate
from ambient.approvals.provenance import trace_provenance
from ambient.approvals.shown import compute_shown_hash
from ambient.approvals.tables import Approval, ApprovalStatus, Decision, ReflectionStatus
from ambient.core.clock import Clock
from ambient.core.config import Settings
from ambient.core.db import read_session, write_session
from ambient.core.errors import DecisionError, NotFoundError

log = logging.getLogger(__name__)


class ApprovalQueue:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        settings: Settings,
        policy: PolicyGate,
        events: ApprovalEvents | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self.policy = policy
        self.events = events  # e.g. TracedApprovals: the decision as a score on the trace

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
        automatic: builtins.list[Approval] = []  # approved by an earned-autonomy rule
        # outside the write transaction: comparing texts takes a moment for a long message
        traced = [
            (draft, trace_provenance(KINDS.of(draft.kind).outgoing_texts(draft.args), context))
            for draft in drafts
        ]
        with write_session(self.engine) as session:
            for draft, provenance in traced:
                row = intake.new_approval(
                    session,
                    self.policy,
                    draft,
                    context=context,
                    provenance=provenance,
                    trace_id=trace_id,
                    run_state=run_state,
                    parent_id=parent_id,
                    now=now,
                )
                rows.append(row)
                if autonomy.approve_at_intake(session, row, self.settings, now):
                    automatic.append(row)
            if parent_id is not None:
                new_ids = [row.id for row in rows if row.id is not None]
                intake.mark_revised(session, self.engine, parent_id, now, new_ids)
            settle_item(session, context.item_id, now)
        for row in rows:
            log.info(
                "queued approval=%s kind=%s item=%s trace=%s status=%s",
                row.id,
                row.kind,
                row.item_id,
                row.trace_id,
                row.status.value,
            )
        for row in automatic:
            log.info("approval=%s approved by %s", row.id, row.decided_by)
            notify(self.events, "decided", row)
        return rows

    # ---- decisions ---------------------------------------------------------------------
    def shown_hash(self, approval: Approval) -> str:
        """The hash of what is shown for this row; a decision must carry it."""
        return compute_shown_hash(approval)

    def approve(
        self, approval_id: int, *, shown_hash: str, acknowledge_warnings: bool = False, actor: str
    ) -> Approval:
        apply = appliers.approver(acknowledge_warnings, actor)
        return self._decide_one(approval_id, shown_hash, actor, apply)

    def approve_many(
        self,
        decisions: Iterable[tuple[int, str]],
        *,
        acknowledge_warnings: bool = False,
        actor: str,
    ) -> builtins.list[DecisionOutcome]:
        return self._decide(decisions, actor, appliers.approver(acknowledge_warnings, actor))

    def edit(
        self,
        approval_id: int,
        *,
        shown_hash: str,
        args: dict[str, Any],
        actor: str,
        acknowledge_warnings: bool = False,
    ) -> Approval:
        """Approve with changed arguments (validated, and checked by the policy gate again)."""
        apply = appliers.editor(self.policy, args, acknowledge_warnings, actor)
        return self._decide_one(approval_id, shown_hash, actor, apply)

    def feedback(self, approval_id: int, *, shown_hash: str, message: str, actor: str) -> Approval:
        """Deny with a message: the agent resumes its run with it and drafts again."""
        if not message.strip():
            raise DecisionError("feedback needs a message for the agent")
        apply = appliers.closer(Decision.FEEDBACK, message, actor)
        return self._decide_one(approval_id, shown_hash, actor, apply)

    def answer(
        self,
        approval_id: int,
        *,
        shown_hash: str,
        actor: str,
        text: str | None = None,
        choice: int | None = None,
    ) -> Approval:
        """Answer the agent's question (ask_user), in words or by a choice's number (from 1):
        the agent resumes its run with the answer and drafts again, as after feedback."""
        apply = appliers.answerer(text, choice, actor)
        return self._decide_one(approval_id, shown_hash, actor, apply)

    def reject(self, approval_id: int, *, shown_hash: str, reason: str, actor: str) -> Approval:
        apply = appliers.closer(Decision.REJECTED, reason, actor)
        return self._decide_one(approval_id, shown_hash, actor, apply)

    def reject_many(
        self, decisions: Iterable[tuple[int, str]], *, reason: str, actor: str
    ) -> builtins.list[DecisionOutcome]:
        return self._decide(decisions, actor, appliers.closer(Decision.REJECTED, reason, actor))

    def ignore(self, approval_id: int, *, shown_hash: str, actor: str) -> Approval:
        apply = appliers.closer(Decision.IGNORED, None, actor)
        return self._decide_one(approval_id, shown_hash, actor, apply)

    def ignore_many(
        self, decisions: Iterable[tuple[int, str]], *, actor: str
    ) -> builtins.list[DecisionOutcome]:
        return self._decide(decisions, actor, appliers.closer(Decision.IGNORED, None, actor))

    def undo(self, approval_id: int, actor: str) -> Approval:
        """Take a decision back while nothing has run: the row waits for review again."""

        def apply(session: Session, row: Approval, now: datetime) -> str | None:
            taken_back = autonomy.TakenBack.of(row)
            reason = appliers.undo(session, self.policy, row, now, actor)
            if reason is None:
                autonomy.record_undo(session, taken_back, self.settings, now, actor)
            return reason

        return self._change(approval_id, apply)

    def retry(self, approval_id: int, actor: str) -> Approval:
        """A human's "run it again" for a dead action (e.g. delivery uncertain, not sent)."""
        return self._change(
            approval_id, lambda session, row, now: appliers.retry(session, row, now, actor)
        )

    def mark_delivered(self, approval_id: int, actor: str) -> Approval:
        """A human's "it did arrive" for an email whose delivery was uncertain: executed, and
        not sent again (unlike :meth:`retry`)."""
        row = self._change(
            approval_id,
            lambda session, row, now: appliers.confirm_delivered(session, row, now, actor),
        )
        log.info("approval=%s marked delivered by %s", approval_id, actor)
        notify(self.events, "executed", row, "delivered")
        return row

    def _change(self, approval_id: int, apply: Apply) -> Approval:
        """A change that needs no hash (it does not act on what is shown)."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = lock_approval(session, self.engine, approval_id)
            if row is None:
                raise NotFoundError(f"approval {approval_id} does not exist")
            reason = apply(session, row, now)
            if reason is None:
                settle_item(session, row.item_id, now)
        if reason is not None:
            raise DecisionError(reason)
        return row

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
        expire_hours = self.settings.approvals.expire_hours
        outcomes: builtins.list[DecisionOutcome] = []
        with write_session(self.engine) as session:
            for approval_id, shown_hash in decisions:
                row = lock_approval(session, self.engine, approval_id)
                if row is None:
                    missing = f"approval {approval_id} does not exist"
                    outcomes.append(DecisionOutcome(approval_id, False, missing))
                    continue
                reason = refusal(session, row, shown_hash, now, expire_hours, actor)
                if reason is None:
                    reason = apply(session, row, now)
                session.add(row)
                if reason is None:
                    autonomy.record_decision(session, row, self.settings, now)
                    settle_item(session, row.item_id, now)
                    log.info("approval=%s %s by %s", row.id, row.status.value, actor)
                else:
                    log.info("approval=%s decision refused: %s", row.id, reason)
                outcomes.append(DecisionOutcome(approval_id, reason is None, reason, row))
        for outcome in outcomes:
            if outcome.ok and outcome.approval is not None:
                notify(self.events, "decided", outcome.approval)
        return outcomes

    # ---- the feedback loop and learning ------------------------------------------------
    def awaiting_revision(self, limit: int = 20) -> builtins.list[Approval]:
        """Rows sent back to the agent (feedback, or an answer to its question) that it has
        not revised yet, oldest first."""
        query = (
            select(Approval)
            .where(Approval.status == ApprovalStatus.FEEDBACK, col(Approval.revised_at).is_(None))
            .order_by(col(Approval.decided_at), col(Approval.id))
            .limit(limit)
        )
        with read_session(self.engine) as session:
            return builtins.list(session.exec(query))

    def mark_revised(self, approval_id: int, new_ids: Sequence[int]) -> None:
        """The agent revised a feedback row (new_ids may be empty: nothing more to draft).
        A no-op when it is already revised (queue_drafts with parent_id does it) or no longer
        waiting for a revision (the human took the feedback back)."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = lock_approval(session, self.engine, approval_id)
            if row is None:
                raise NotFoundError(f"approval {approval_id} does not exist")
            if row.revised_at is not None or row.status != ApprovalStatus.FEEDBACK:
                return
            intake.mark_revised(session, self.engine, approval_id, now, builtins.list(new_ids))
            settle_item(session, row.item_id, now)

    def pending_reflections(self, limit: int = 20) -> builtins.list[Approval]:
        """Rows decided with edit, feedback, reject or an answer that memory has not learned
        from yet."""
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
