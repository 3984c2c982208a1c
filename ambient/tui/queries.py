"""Read-only queries the screens need, shaped for a terminal and cheap enough to poll.

Listing reads only the columns a row shows (never the run state a resume needs), and the
queue's change token is one aggregate over the status index, so polling once a second costs
next to nothing even with ten thousand pending actions. Decisions never go through here: they
go through :class:`ambient.approvals.queue.ApprovalQueue`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, case, func, or_
from sqlmodel import col, select

from ambient.approvals.kinds import KINDS
from ambient.approvals.tables import AWAITING_HUMAN, Approval, ApprovalStatus
from ambient.core.db import read_session
from ambient.core.tables import Item
from ambient.tui.views import QueueEntry, QueueFilter

HISTORY_LIMIT = 500
CHUNK = 500  # ids per IN (...) query

_LIST_COLUMNS: tuple[Any, ...] = (
    Approval.id,
    Approval.kind,
    Approval.status,
    Approval.args_json,
    Approval.edited_args_json,
    Approval.created_at,
    Approval.policy_warnings_json,
    Approval.block_reason,
    Approval.shown_hash,
    Approval.decided_at,
    Approval.decision,
    Approval.last_error,
    Item.source,
    Item.sender,
    Item.subject,
    Item.triage_json,
    Approval.decided_by,
)


def statuses_for(name: str) -> list[ApprovalStatus]:
    """A filter's status: "pending" means everything awaiting a human (blocked included)."""
    if name in ("", "pending"):
        return sorted(AWAITING_HUMAN)
    return [ApprovalStatus(name)]


def _filtered(query: Any, queue_filter: QueueFilter, statuses: Iterable[ApprovalStatus]) -> Any:
    query = query.where(col(Approval.status).in_(list(statuses)))
    if queue_filter.source:
        query = query.where(Item.source == queue_filter.source)
    if queue_filter.kind:
        query = query.where(Approval.kind == queue_filter.kind)
    if queue_filter.sender:
        query = query.where(col(Item.sender).ilike(f"%{queue_filter.sender}%"))
    if queue_filter.text:
        pattern = f"%{queue_filter.text}%"
        query = query.where(
            or_(
                col(Item.subject).ilike(pattern),
                col(Item.sender).ilike(pattern),
                col(Approval.args_json).ilike(pattern),
                col(Approval.rationale).ilike(pattern),
            )
        )
    return query


def _token_query() -> Any:
    return select(
        func.count(),
        func.sum(Approval.id),
        func.sum(Approval.review_round),
        func.max(Approval.queued_at),
    ).select_from(Approval)


def queue_token(engine: Engine, queue_filter: QueueFilter) -> tuple[Any, ...]:
    """Changes whenever a row enters, leaves or is re-queued into what the filter shows."""
    query = _token_query()
    if queue_filter.source or queue_filter.sender or queue_filter.text:
        query = query.join(Item, col(Item.id) == col(Approval.item_id))
    with read_session(engine) as session:
        row = session.exec(_filtered(query, queue_filter, statuses_for(queue_filter.status))).one()
    return tuple(row)


def rows_token(engine: Engine, ids: Sequence[int]) -> tuple[Any, ...]:
    """The queue token's aggregates over just these rows (any status, by primary key): what
    their leaving takes off the token (see :func:`ambient.tui.listing.only_these_left`)."""
    with read_session(engine) as session:
        row = session.exec(_token_query().where(col(Approval.id).in_(list(ids)))).one()
    return tuple(row)


def _entry(row: Any) -> QueueEntry:
    (
        approval_id,
        kind,
        status,
        args_json,
        edited_json,
        created_at,
        warnings_json,
        block_reason,
        shown_hash,
        decided_at,
        decision,
        last_error,
        source,
        sender,
        subject,
        triage_json,
        decided_by,
    ) = row
    args: dict[str, Any] = json.loads(edited_json or args_json or "{}")
    action_kind = KINDS.of(kind)
    warnings = tuple(json.loads(warnings_json or "[]"))
    if block_reason:
        warnings = (f"blocked: {block_reason}", *warnings)
    priority = ""
    if triage_json:
        triage = json.loads(triage_json)
        priority = str(triage.get("priority", "")) if isinstance(triage, dict) else ""
    return QueueEntry(
        id=approval_id,
        kind=kind,
        status=ApprovalStatus(status).value,
        concerns=action_kind.concerns(args),
        summary=action_kind.summary(args, fallback=subject),
        created_at=created_at,
        warnings=warnings,
        shown_hash=shown_hash,
        source=source,
        sender=sender,
        priority=priority,
        decided_at=decided_at,
        decision=str(decision.value if hasattr(decision, "value") else decision or ""),
        error=last_error or "",
        decided_by=decided_by or "",
    )


def _priority_rank() -> Any:
    """0 for high, 1 for normal (or none), 2 for low, from the item's triage (stored as JSON
    text by the ledger); a LIKE works the same on SQLite and PostgreSQL."""
    triage = func.coalesce(Item.triage_json, "")

    def says(priority: str) -> Any:
        return or_(
            triage.like(f'%"priority": "{priority}"%'), triage.like(f'%"priority":"{priority}"%')
        )

    return case((says("high"), 0), (says("low"), 2), else_=1)


def _joined(columns: Iterable[Any]) -> Any:
    return select(*columns).join(Item, col(Item.id) == col(Approval.item_id))


def queue_index(engine: Engine, queue_filter: QueueFilter) -> list[tuple[int, str]]:
    """(id, shown hash) of every row the queue shows, in display order: most urgent first
    (the triage priority), then newest. Small rows: cheap even for ten thousand."""
    query = _filtered(
        _joined((Approval.id, Approval.shown_hash)),
        queue_filter,
        statuses_for(queue_filter.status),
    ).order_by(_priority_rank(), col(Approval.id).desc())
    with engine.connect() as connection:
        return [(row[0], row[1]) for row in connection.execute(query)]


def entries_by_id(engine: Engine, ids: Sequence[int]) -> dict[int, QueueEntry]:
    """The listed rows for these ids (any status)."""
    found: dict[int, QueueEntry] = {}
    with engine.connect() as connection:
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            query = _joined(_LIST_COLUMNS).where(col(Approval.id).in_(chunk))
            for row in connection.execute(query):
                entry = _entry(row)
                found[entry.id] = entry
    return found


def queue_entries(engine: Engine, queue_filter: QueueFilter) -> list[QueueEntry]:
    """Everything awaiting a decision, in display order (see queue_index)."""
    index = queue_index(engine, queue_filter)
    entries = entries_by_id(engine, [approval_id for approval_id, _ in index])
    return [entries[approval_id] for approval_id, _ in index if approval_id in entries]


def history_entries(
    engine: Engine, queue_filter: QueueFilter, limit: int = HISTORY_LIMIT
) -> list[QueueEntry]:
    """Decided actions, most recently decided first."""
    decided = [status for status in ApprovalStatus if status not in AWAITING_HUMAN]
    statuses: Iterable[ApprovalStatus] = (
        decided if queue_filter.status in ("", "pending") else statuses_for(queue_filter.status)
    )
    query = _filtered(_joined(_LIST_COLUMNS), queue_filter, statuses)
    query = query.order_by(
        func.coalesce(Approval.decided_at, Approval.created_at).desc(),
        col(Approval.id).desc(),
    ).limit(limit)
    with engine.connect() as connection:
        return [_entry(row) for row in connection.execute(query)]
