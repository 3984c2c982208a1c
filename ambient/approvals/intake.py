"""Drafts into the queue: through the policy gate, with everything a decision is bound to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from ambient.approvals.audit import append_entry
from ambient.approvals.decisions import lock_approval, refresh_hash
from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.kinds import KINDS
from ambient.approvals.policy import PolicyGate
from ambient.approvals.provenance import Provenance
from ambient.approvals.shown import canonical_json
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.errors import DecisionError, NotFoundError


def new_approval(
    session: Session,
    policy: PolicyGate,
    draft: DraftedAction,
    *,
    context: ActionContext,
    provenance: Provenance,
    trace_id: str,
    run_state: str | None,
    parent_id: int | None,
    now: datetime,
) -> Approval:
    """One row for one draft: pending, or blocked with the gate's reason."""
    report = policy.check(
        draft.kind,
        draft.args,
        thread_addresses=context.thread_addresses,
        provenance=provenance,
    )
    try:
        args = KINDS.validate(draft.kind, draft.args)
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
        provenance_json=provenance.dumps(),
        lineage_json=context.lineage.to_json() if context.lineage is not None else None,
        block_reason=report.block_reason,
        created_at=now,
        queued_at=now,
    )
    session.add(row)
    session.flush()
    refresh_hash(row)
    append_entry(
        session,
        at=now,
        actor="agent",
        event="blocked" if report.blocked else "queued",
        approval_id=row.id,
        item_id=row.item_id,
        details={
            "kind": row.kind,
            "args": args,
            "trace_id": trace_id,
            "parent_id": parent_id,
            "warnings": report.warnings,
            "block_reason": report.block_reason,
        },
    )
    return row


def mark_revised(
    session: Session, engine: Engine, approval_id: int, now: datetime, new_ids: list[int]
) -> Approval:
    """Record that the agent revised a feedback row; refuses a second revision."""
    row = lock_approval(session, engine, approval_id)
    if row is None:
        raise NotFoundError(f"approval {approval_id} does not exist")
    if row.status != ApprovalStatus.FEEDBACK:
        raise DecisionError(f"approval {approval_id} is {row.status.value}, not feedback")
    if row.revised_at is not None:
        raise DecisionError(f"approval {approval_id} was already revised")
    row.revised_at = now
    session.add(row)
    append_entry(
        session,
        at=now,
        actor="agent",
        event="revised",
        approval_id=row.id,
        item_id=row.item_id,
        details={"new_ids": new_ids},
    )
    return row
