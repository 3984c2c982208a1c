"""The rules of a decision, applied inside one write transaction on a locked row.

Before any decision applies, the row must still be waiting for a human, the hash the human
carries must be the hash of what is shown now, and the row must not be stale (the item's thread
got a newer message) or expired. A stale or expired row is re-queued for review: its review round
goes up, so its hash changes and the human must look again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, exists, not_, or_
from sqlmodel import Session, col, select

from ambient.approvals.audit import append_entry
from ambient.approvals.kinds import KINDS
from ambient.approvals.shown import canonical_json, compute_shown_hash
from ambient.approvals.tables import (
    AWAITING_HUMAN,
    FINAL,
    Approval,
    ApprovalStatus,
    ReflectionStatus,
)
from ambient.core.db import is_sqlite
from ambient.core.items import ItemState
from ambient.core.tables import Item


@dataclass(frozen=True)
class DecisionOutcome:
    """One row's result in a (bulk) decision: done, or refused with the reason."""

    approval_id: int
    ok: bool
    reason: str | None = None
    approval: Approval | None = None


def lock_approval(session: Session, engine: Engine, approval_id: int) -> Approval | None:
    """The row, locked for this transaction (SQLite: the whole database is, by BEGIN IMMEDIATE)."""
    query = select(Approval).where(Approval.id == approval_id)
    if not is_sqlite(engine):
        query = query.with_for_update()
    return session.exec(query).first()


def refresh_hash(row: Approval) -> None:
    row.shown_hash = compute_shown_hash(row)


def newer_in_thread(session: Session, row: Approval) -> Item | None:
    """The newest message of the item's thread that arrived after the one last shown."""
    if not KINDS.of(row.kind).thread_bound:  # e.g. about a decision, not about the thread
        return None
    item = session.get(Item, row.item_id)
    if item is None or not item.thread_key:
        return None
    head = row.thread_head_id or row.item_id
    query = (
        select(Item)
        .where(Item.thread_key == item.thread_key, col(Item.id) > head, Item.id != item.id)
        .order_by(col(Item.id).desc())
        .limit(1)
    )
    if item.message_id:  # a second delivery of the same message is not news
        query = query.where(
            or_(col(Item.message_id).is_(None), col(Item.message_id) != item.message_id)
        )
    if item.received_at is not None:  # an older message found late is not news either
        query = query.where(
            or_(col(Item.received_at).is_(None), col(Item.received_at) >= item.received_at)
        )
    return session.exec(query).first()


def requeue(session: Session, row: Approval, now: datetime, reason: str, actor: str) -> None:
    """Put the row back for review with a fresh hash and the reason."""
    row.review_round += 1
    row.queued_at = now
    row.stale_reason = reason
    refresh_hash(row)
    session.add(row)
    append_entry(
        session,
        at=now,
        actor=actor,
        event="requeued",
        approval_id=row.id,
        item_id=row.item_id,
        details={"reason": reason, "round": row.review_round},
    )


def waited(age: timedelta) -> str:
    """How long a row waited, as a person says it: `40 min`, `2 h 30 min`, `73 h`."""
    hours, minutes = divmod(int(age.total_seconds() // 60), 60)
    if hours == 0:
        return f"{minutes} min"
    return f"{hours} h" if minutes == 0 or hours >= 24 else f"{hours} h {minutes} min"


def refusal(
    session: Session,
    row: Approval,
    shown_hash: str,
    now: datetime,
    expire_hours: float,
    actor: str,
) -> str | None:
    """Why a decision on this row must be refused (re-queuing it when stale), or None."""
    if row.status not in AWAITING_HUMAN:
        who = f" by {row.decided_by}" if row.decided_by else ""
        when = f" at {row.decided_at:%Y-%m-%d %H:%M}" if row.decided_at else ""
        return f"approval {row.id} is already {row.status.value}{who}{when}"
    if shown_hash != compute_shown_hash(row):
        return (
            f"approval {row.id} changed since it was shown (hash mismatch); "
            "show it again and decide on what it says now"
        )
    newer = newer_in_thread(session, row)
    if newer is not None:
        assert newer.id is not None
        row.thread_head_id = newer.id
        row.item_version = f"{row.item_version.split(' +thread@', 1)[0]} +thread@{newer.id}"
        reason = (
            f"stale: the thread got a newer message (item {newer.id}, {newer.subject!r}); "
            "re-queued for review"
        )
        requeue(session, row, now, reason, actor)
        return f"approval {row.id} is {reason}"
    age = now - row.queued_at
    if age > timedelta(hours=expire_hours):
        reason = (
            f"expired: waiting {waited(age)} "
            f"(approvals.expire_hours = {expire_hours:g}); re-queued for review"
        )
        requeue(session, row, now, reason, actor)
        return f"approval {row.id} {reason}"
    return None


def record_decision(row: Approval, now: datetime, actor: str) -> None:
    row.decided_at = now
    row.decided_by = actor[:200]
    row.stale_reason = None


def schedule_execution(row: Approval, now: datetime) -> None:
    row.status = ApprovalStatus.APPROVED
    row.idempotency_key = row.idempotency_key or f"ambient-{row.id}-{uuid.uuid4().hex}"
    row.next_attempt_at = now
    row.attempts = 0
    row.last_error = None


def recipients(kind: str, args: dict[str, Any]) -> set[str]:
    """The addresses an action writes to, lower-case (none for a kind that writes to no one)."""
    return KINDS.of(kind).recipients(args)


def human_recipients(row: Approval) -> frozenset[str]:
    """Recipients the human typed in while editing (not in the agent's draft)."""
    edited = row.edited_args
    if edited is None:
        return frozenset()
    return frozenset(recipients(row.kind, edited) - recipients(row.kind, row.args))


def reset_to_review(row: Approval, now: datetime) -> None:
    """Undo a decision: the row waits for a human again, with a fresh hash."""
    row.status = ApprovalStatus.PENDING
    row.decision = None
    row.decided_at = None
    row.decided_by = None
    row.decision_message = None
    row.edited_args_json = None
    row.warnings_acknowledged = False
    row.next_attempt_at = None
    if row.reflection_status == ReflectionStatus.PENDING:
        row.reflection_status = ReflectionStatus.NONE
    row.review_round += 1
    row.queued_at = now
    refresh_hash(row)


def settle_item(session: Session, item_id: int, now: datetime) -> None:
    """The item is done once every approval of it is final, and awaiting approval if not."""
    item = session.get(Item, item_id)
    if item is None:
        return
    rows = list(
        session.exec(
            select(Approval).where(
                Approval.item_id == item_id, col(Approval.kind).not_in(KINDS.detached())
            )
        )
    )
    if not rows:
        return
    all_final = all(row.is_final for row in rows)
    if all_final and item.state == ItemState.AWAITING_APPROVAL:
        item.state = ItemState.DONE
    elif not all_final and item.state == ItemState.DONE:
        item.state = ItemState.AWAITING_APPROVAL
    else:
        return
    item.updated_at = now
    session.add(item)


def items_to_settle(session: Session, limit: int) -> list[int]:
    """Items still awaiting approval although every approval of theirs is final."""
    counted = and_(col(Approval.item_id) == Item.id, col(Approval.kind).not_in(KINDS.detached()))
    still_open = and_(
        counted,
        col(Approval.status).not_in(list(FINAL)),
        or_(col(Approval.status) != ApprovalStatus.FEEDBACK, col(Approval.revised_at).is_(None)),
    )
    query = (
        select(Item.id)
        .where(
            Item.state == ItemState.AWAITING_APPROVAL,
            exists().where(counted),
            not_(exists().where(still_open)),
        )
        .limit(limit)
    )
    return [item_id for item_id in session.exec(query) if item_id is not None]


def dump_args(args: dict[str, Any]) -> str:
    return canonical_json(args)
