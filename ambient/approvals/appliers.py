"""What each decision does to a locked, decidable row (inside the queue's write transaction).

Each applier returns None when it applied, or the reason it refuses (the row is left as it
was). Every applied decision is written to the audit log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session

from ambient.approvals.audit import append_entry, args_diff, args_digest
from ambient.approvals.decisions import (
    dump_args,
    recipients,
    record_decision,
    refresh_hash,
    reset_to_review,
    schedule_execution,
)
from ambient.approvals.journal import SENT, delivery_uncertain
from ambient.approvals.kinds import KINDS
from ambient.approvals.policy import PolicyGate
from ambient.approvals.shown import canonical_json
from ambient.approvals.tables import UNDOABLE, Approval, ApprovalStatus, Decision, ReflectionStatus
from ambient.core.errors import DecisionError

Apply = Callable[[Session, Approval, datetime], str | None]
"""Applies a decision to a locked, decidable row; returns a refusal reason or None."""

CLOSING_STATUS = {
    Decision.FEEDBACK: ApprovalStatus.FEEDBACK,
    Decision.REJECTED: ApprovalStatus.REJECTED,
    Decision.IGNORED: ApprovalStatus.IGNORED,
    # back to the agent, as feedback is: it goes on with the answer (see ambient.agent.reviser)
    Decision.ANSWERED: ApprovalStatus.FEEDBACK,
}


def audit_decision(
    session: Session, row: Approval, now: datetime, actor: str, event: str, details: dict[str, Any]
) -> None:
    append_entry(
        session,
        at=now,
        actor=actor,
        event=event,
        approval_id=row.id,
        item_id=row.item_id,
        details={"kind": row.kind, "shown_hash": row.shown_hash, **details},
    )


def _needs_acknowledgement(row: Approval, warnings: list[str]) -> str:
    return f"approval {row.id}: acknowledge the warnings first: " + "; ".join(warnings)


def _is_question(row: Approval) -> str | None:
    """The refusal to approve, edit or give feedback on the agent's question, else None."""
    if not KINDS.of(row.kind).asks:
        return None
    return (
        f"approval {row.id} is the agent's question: answer it "
        f"(ambient approvals answer {row.id} TEXT), or reject or ignore it"
    )


def approver(acknowledge_warnings: bool, actor: str) -> Apply:
    def apply(session: Session, row: Approval, now: datetime) -> str | None:
        if (question := _is_question(row)) is not None:
            return question
        if row.status == ApprovalStatus.BLOCKED:
            return f"approval {row.id} is blocked by policy: {row.block_reason} (edit or reject it)"
        if row.warnings and not acknowledge_warnings:
            return _needs_acknowledgement(row, row.warnings)
        row.decision = Decision.APPROVED
        row.warnings_acknowledged = bool(row.warnings)
        record_decision(row, now, actor)
        schedule_execution(row, now)
        details = {"warnings": row.warnings, "args_sha256": args_digest(row.effective_args)}
        audit_decision(session, row, now, actor, "approved", details)
        return None

    return apply


def editor(
    policy: PolicyGate, args: dict[str, Any], acknowledge_warnings: bool, actor: str
) -> Apply:
    """Approve with changed arguments: validated against the action's schema, re-checked by the
    gate; recipients the human adds are theirs, not "outside the thread"."""

    def apply(session: Session, row: Approval, now: datetime) -> str | None:
        if (question := _is_question(row)) is not None:
            return question
        try:
            new_args = KINDS.validate(row.kind, args)
        except DecisionError as error:
            return f"approval {row.id}: invalid edit: {error}"
        typed = frozenset(recipients(row.kind, new_args) - recipients(row.kind, row.args))
        report = policy.check(
            row.kind,
            new_args,
            thread_addresses=row.thread_addresses,
            human_recipients=typed,
            provenance=row.provenance,
        )
        if report.blocked:
            return f"approval {row.id}: the edited action is blocked: {report.block_reason}"
        if report.warnings and not acknowledge_warnings:
            return _needs_acknowledgement(row, report.warnings)
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
        details = {
            "changes": changes,
            "warnings": report.warnings,
            "args_sha256": args_digest(row.effective_args),
        }
        audit_decision(session, row, now, actor, row.decision.value, details)
        return None

    return apply


def closer(decision: Decision, message: str | None, actor: str) -> Apply:
    """feedback, reject, ignore, answer: no execution; all but ignore teach memory."""
    status = CLOSING_STATUS[decision]

    def apply(session: Session, row: Approval, now: datetime) -> str | None:
        if decision == Decision.FEEDBACK and (question := _is_question(row)) is not None:
            return question
        row.status = status
        row.decision = decision
        row.decision_message = message
        if decision != Decision.IGNORED:
            row.reflection_status = ReflectionStatus.PENDING
        record_decision(row, now, actor)
        audit_decision(session, row, now, actor, decision.value, {"message": message})
        return None

    return apply


def answerer(text: str | None, choice: int | None, actor: str) -> Apply:
    """Answer the agent's question (in words, or a choice by its number): the answer goes back
    to the paused run as feedback does, and to memory reflection; a question is never run."""

    def apply(session: Session, row: Approval, now: datetime) -> str | None:
        kind = KINDS.of(row.kind)
        if not kind.asks:
            return f"approval {row.id} is a {row.kind}, not a question: approve, edit or reject it"
        if row.status == ApprovalStatus.BLOCKED:
            return f"approval {row.id} is blocked by policy: {row.block_reason} (reject it)"
        try:
            answer = kind.answer(row.args, text, choice)
        except DecisionError as error:
            return f"approval {row.id}: {error}"
        return closer(Decision.ANSWERED, answer, actor)(session, row, now)

    return apply


def undo(
    session: Session, policy: PolicyGate, row: Approval, now: datetime, actor: str
) -> str | None:
    """Take a decision back while nothing has run; the reason it cannot be, or None."""
    if row.status not in UNDOABLE:
        return f"approval {row.id} is {row.status.value}: nothing to undo"
    if row.status == ApprovalStatus.FEEDBACK and row.revised_at is not None:
        return f"approval {row.id}: the agent already revised it"
    previous = row.decision.value if row.decision else row.status.value
    reset_to_review(row, now)
    report = policy.check(
        row.kind, row.args, thread_addresses=row.thread_addresses, provenance=row.provenance
    )
    row.status = ApprovalStatus.BLOCKED if report.blocked else ApprovalStatus.PENDING
    row.block_reason = report.block_reason
    row.policy_warnings_json = canonical_json(report.warnings)
    refresh_hash(row)
    session.add(row)
    audit_decision(session, row, now, actor, "undone", {"undone": previous})
    return None


def retry(session: Session, row: Approval, now: datetime, actor: str) -> str | None:
    """A dead action back to the outbox (the human checked it did not happen)."""
    if row.status != ApprovalStatus.DEAD:
        return f"approval {row.id} is {row.status.value}, not dead"
    row.status = ApprovalStatus.APPROVED
    row.attempts = 0
    row.next_attempt_at = now
    row.delivery_stage = None
    row.delivery_stage_at = None
    session.add(row)
    audit_decision(session, row, now, actor, "retried", {"last_error": row.last_error})
    return None


def confirm_delivered(session: Session, row: Approval, now: datetime, actor: str) -> str | None:
    """The human checked that an email whose delivery was uncertain did arrive: it is closed as
    executed, and never sent again."""
    if not delivery_uncertain(row):
        if row.status == ApprovalStatus.DEAD:
            return (
                f"approval {row.id} is dead but its delivery is not uncertain (it never reached "
                "the mail server): retry it to send it"
            )
        return (
            f"approval {row.id} is {row.status.value}: only a dead email whose delivery is "
            "uncertain can be marked delivered"
        )
    error = row.last_error
    row.status = ApprovalStatus.EXECUTED
    row.executed_at = now
    row.delivery_stage = SENT
    row.delivery_stage_at = now
    row.next_attempt_at = None
    row.last_error = None
    row.result_json = canonical_json(
        {"summary": f"delivered (confirmed by {actor})", "confirmed_by": actor}
    )
    session.add(row)
    audit_decision(session, row, now, actor, "delivered", {"last_error": error})
    return None
