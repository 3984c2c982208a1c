"""When the human's decisions on an item are settled: nothing more will change them.

An approval is decided once a human decision on it is final: executed, dead, rejected, ignored,
or feedback the agent already revised (the revision is an approval of its own). An item is
decided when every action drafted for it is (kinds that do not hold their item open, such as
a memory update learned from a decision, are left out), or when it was triaged ignore or notify
with nothing drafted and is done: the triage the human let stand. An item with a draft still
waiting is not. The eval export and the agent's few-shot examples read the same rule, in Python
(:func:`is_decided`, :func:`item_is_decided`) and as SQL (:func:`settled`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col

from ambient.approvals.tables import FINAL, Approval, ApprovalStatus
from ambient.core.items import ItemState
from ambient.core.tables import Item

LET_STAND = frozenset({"ignore", "notify"})
"""Triage decisions that, with nothing drafted, count as decided by the human letting them be."""


def is_decided(approval: Approval) -> bool:
    """A human decision nothing more will change."""
    return approval.decision is not None and approval.is_final


def settled() -> ColumnElement[bool]:
    """:func:`is_decided` as an SQL condition on the approval table."""
    final = or_(
        col(Approval.status).in_(FINAL),
        and_(
            col(Approval.status) == ApprovalStatus.FEEDBACK, col(Approval.revised_at).is_not(None)
        ),
    )
    return and_(col(Approval.decision).is_not(None), final)


def triage_of(item: Item) -> dict[str, Any] | None:
    """The item's triage as stored by the ledger (decision, reason, priority, summary)."""
    if not item.triage_json:
        return None
    triage = json.loads(item.triage_json)
    return triage if isinstance(triage, dict) else None


def item_is_decided(
    state: ItemState, triage: dict[str, Any] | None, approvals: Sequence[Approval]
) -> bool:
    """Whether an item's decisions are settled, given its actions' approvals (detached kinds
    left out) and its stored triage."""
    if approvals:
        return all(is_decided(approval) for approval in approvals)
    return state == ItemState.DONE and (triage or {}).get("decision") in LET_STAND
