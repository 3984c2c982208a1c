"""Few-shot examples: the user's own settled decisions on past items like the new one.

An :class:`ExampleSource` finds up to K past decided items (see ``approvals.decided``) most
similar to the item the agent works on; the prompt shows them before the email. A source only
ever returns items with a smaller id than the item's, so a replay of an old item (an eval)
never sees its own decision or any later one. :class:`LedgerExamples` reads the ledger and
ranks by how they are alike — same sender address, then same thread, then the sender's
domain, then the same subject (without Re:/Fwd:) — items with human decisions on drafted
actions before the triage a human let stand, and newest first within each.

An example's texts are what the user approved to be sent or written, not private memory: the
policy gate's ``private_memory_in_draft`` does not count them (the user's own phrasing and
signature recur in every reply; flagging them would warn on nearly every draft). The prompt
asks the model not to carry facts from an example into mail to anyone else, and every draft
still goes before the human.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Engine, and_, case, exists, func, or_
from sqlmodel import col, select

from ambient.agent.deps import AgentItem
from ambient.approvals.decided import is_decided, item_is_decided, settled, triage_of
from ambient.approvals.kinds import KINDS
from ambient.approvals.tables import Approval
from ambient.core.db import read_session
from ambient.core.items import ItemState
from ambient.core.message import normalized_subject
from ambient.core.tables import Item

MATCHES = ("same sender", "same thread", "same sender domain", "same subject")
"""How a past item is like the new one, most alike first (its rank is the index)."""
SUBJECT_RANK = 3
NOT_SIMILAR = len(MATCHES)
OVERFETCH = 3  # candidates read per example wanted (some turn out not decided after all)


@dataclass(frozen=True)
class PastAction:
    """One action drafted for a past item and what the human decided on it."""

    kind: str
    decision: str  # approved, edited, rejected, feedback or ignored (approvals' Decision)
    headline: str  # what it does to whom, as the kind says it, of the final arguments
    text: str  # its body as the human left it: their edit if any, else the draft ("" if none)
    feedback: str = ""  # the human's feedback or reason, if they gave one
    decided_by: str = ""  # who decided ("autonomy:…" for an earned rule)

    @property
    def accepted(self) -> bool:
        return self.decision in ("approved", "edited")

    @classmethod
    def of(
        cls,
        kind: str,
        decision: str,
        args: dict[str, Any],
        feedback: str = "",
        decided_by: str = "",
    ) -> PastAction:
        """The action of that kind with those final arguments, as its kind describes it."""
        described = KINDS.of(kind)
        headline, text = described.headline(args), described.shown_body(args) or ""
        return cls(kind, decision, headline, text, feedback, decided_by)


@dataclass(frozen=True)
class PastDecision:
    """A past item, its triage, and the human's decision on each action drafted for it (none:
    the triage was ignore or notify and the human let it stand)."""

    item_id: int
    sender: str
    subject: str
    decision: str  # the triage: ignore, notify or act
    priority: str
    actions: tuple[PastAction, ...] = ()
    match: str = ""  # how it is like the new item (one of MATCHES)


class ExampleSource(Protocol):
    def similar(self, item: AgentItem, limit: int) -> list[PastDecision]:
        """Up to `limit` decided items with an id below ``item.item_id``, most similar first."""
        ...


def past_action(approval: Approval) -> PastAction:
    """What the human decided on `approval`, with the text they left (the kind's body)."""
    return PastAction.of(
        approval.kind,
        approval.decision.value if approval.decision is not None else "",
        approval.effective_args,
        approval.decision_message or "",
        approval.decided_by or "",
    )


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _ends_with(column: ColumnElement[str], suffix: str) -> ColumnElement[bool]:
    return column.like("%" + _like_escaped(suffix), escape="\\")


@dataclass(frozen=True)
class Similarity:
    """How to find items like one item in SQL: a loose filter cheap to test on every row
    (``where``), and each row's rank (an index into MATCHES, or NOT_SIMILAR for a row the
    filter let through that is like the item in no way)."""

    where: ColumnElement[bool]
    rank: ColumnElement[int]
    topic: str  # the item's subject without Re:/Fwd:, lower-case ("" if none)

    def keeps(self, rank: int, subject: str) -> bool:
        """Whether a row of that rank and subject is like the item (the exact subject test)."""
        if rank == SUBJECT_RANK:
            return normalized_subject(subject) == self.topic
        return rank != NOT_SIMILAR


def similarity(item: AgentItem) -> Similarity | None:
    """How past items can be like `item`; None when it tells nothing to match on."""
    message = item.message
    sender = func.lower(col(Item.sender))
    address = message.sender_address.lower()
    domain = address.rsplit("@", 1)[1] if "@" in address else ""
    topic = normalized_subject(message.subject)
    filters: list[ColumnElement[bool]] = []
    ranks: list[tuple[ColumnElement[bool], int]] = []
    if address:
        ranks.append((or_(sender == address, _ends_with(sender, f"<{address}>")), 0))
        # one filter for the sender and their domain: "@domain" is in both
        filters.append(sender.like(f"%{_like_escaped(f'@{domain}' if domain else address)}%"))
    if message.thread_key:
        in_thread = col(Item.thread_key) == message.thread_key
        ranks.append((in_thread, 1))
        filters.append(in_thread)
    if domain:
        in_domain = or_(_ends_with(sender, f"@{domain}"), _ends_with(sender, f"@{domain}>"))
        ranks.append((in_domain, 2))
    if topic:
        about = _ends_with(func.lower(col(Item.subject)), topic)  # the exact test: keeps()
        ranks.append((about, SUBJECT_RANK))
        filters.append(about)
    if not filters:
        return None
    return Similarity(or_(*filters), case(*ranks, else_=NOT_SIMILAR), topic)


class LedgerExamples:
    """Examples from the ledger: one query for the items, by rank, one for their approvals."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def similar(self, item: AgentItem, limit: int) -> list[PastDecision]:
        like = similarity(item)
        if limit <= 0 or like is None:
            return []
        held = col(Approval.kind).not_in(KINDS.detached())
        drafted = exists().where(col(Approval.item_id) == col(Item.id), held)
        waiting = exists().where(col(Approval.item_id) == col(Item.id), held, ~settled())
        decided = or_(and_(drafted, ~waiting), and_(~drafted, col(Item.state) == ItemState.DONE))
        query = (
            select(Item, like.rank)
            .where(col(Item.id) < item.item_id, like.where, decided)
            .order_by(like.rank, case((drafted, 0), else_=1), col(Item.id).desc())
            .limit(limit * OVERFETCH + 2)
        )
        with read_session(self.engine) as session:
            rows = [row for row in session.exec(query).all() if like.keeps(row[1], row[0].subject)]
            approvals = session.exec(
                select(Approval)
                .where(col(Approval.item_id).in_([row[0].id for row in rows]), held)
                .order_by(col(Approval.id))
            ).all()
        by_item: dict[int, list[Approval]] = {}
        for approval in approvals:
            by_item.setdefault(approval.item_id, []).append(approval)
        found: list[PastDecision] = []
        for past, row_rank in rows:
            assert past.id is not None
            triage = triage_of(past) or {}
            drafts = by_item.get(past.id, [])
            if not item_is_decided(past.state, triage, drafts):
                continue  # e.g. done, but triaged act with every draft dropped
            found.append(
                PastDecision(
                    item_id=past.id,
                    sender=past.sender,
                    subject=past.subject,
                    decision=str(triage.get("decision") or ("act" if drafts else "notify")),
                    priority=str(triage.get("priority") or "normal"),
                    actions=tuple(past_action(row) for row in drafts if is_decided(row)),
                    match=MATCHES[row_rank],
                )
            )
            if len(found) == limit:
                break
        return found
