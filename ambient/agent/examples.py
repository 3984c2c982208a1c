"""Few-shot examples: the user's own settled decisions on past items like the new one.

An :class:`ExampleSource` finds up to K past decided items (see ``approvals.decided``) most
similar to the item the agent works on; the prompt shows them before the email. A source only
ever returns items with a smaller id than the item's, so a replay of an old item (an eval)
never sees its own decision or any later one. :class:`LedgerExamples` reads the ledger and
ranks by how they are alike — same sender address, then same thread, then the sender's
domain (never a public webmail one: :data:`WEBMAIL`), then the same subject (without
Re:/Fwd:) — items with human decisions on drafted actions before the triage a human let
stand, and newest first within each. It matches on columns the ledger fills at ingest
(:class:`~ambient.core.message.MatchKeys`), one indexed lookup per way of being alike.

An example's texts are what the user approved to be sent or written, not private memory: the
policy gate's ``private_memory_in_draft`` does not count them (the user's own phrasing and
signature recur in every reply; flagging them would warn on nearly every draft). The prompt
asks the model not to carry facts from an example into mail to anyone else, and every draft
still goes before the human.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Engine, and_, exists, or_
from sqlmodel import col, select

from ambient.agent.deps import AgentItem
from ambient.approvals.decided import is_decided, item_is_decided, settled, triage_of
from ambient.approvals.kinds import KINDS
from ambient.approvals.tables import Approval
from ambient.core.db import read_session
from ambient.core.items import ItemState
from ambient.core.message import MatchKeys, ParsedMessage
from ambient.core.tables import Item

MATCHES = ("same sender", "same thread", "same sender domain", "same subject")
"""How a past item is like the new one, most alike first (its rank is the index)."""
NOT_SIMILAR = len(MATCHES)
OVERFETCH = 5  # candidates read per example wanted, per way of being alike


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


WEBMAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
        "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net",
        "web.de", "mail.ru", "yandex.ru", "qq.com", "163.com",
    }
)  # fmt: skip
"""Public webmail and ISP domains, never matched on as "same sender domain": anyone can have an
address there, so sharing one says nothing about who writes (a stranger on gmail.com must not
get the user's replies to their other gmail contacts as examples). The same sender, thread and
subject still match."""


def match_keys(message: ParsedMessage) -> tuple[str, str, str, str]:
    """What a message is matched on, in the order of MATCHES: its sender's address, its thread,
    its sender's domain (none for a WEBMAIL one) and its topic ("" for what it lacks)."""
    keys = MatchKeys.of(message.sender_address, message.subject)
    domain = "" if keys.domain in WEBMAIL else keys.domain
    return keys.address, message.thread_key or "", domain, keys.topic


def rank_of(new: tuple[str, ...], past: tuple[str | None, ...]) -> int:
    """How a past item with keys `past` is like one with keys `new` (:func:`match_keys`): an
    index into MATCHES, NOT_SIMILAR when it is like it in no way."""
    pairs = enumerate(zip(new, past, strict=True))
    return next((rank for rank, (one, other) in pairs if one and one == other), NOT_SIMILAR)


LOOKUPS = (
    col(Item.sender_address), col(Item.thread_key), col(Item.sender_domain), col(Item.topic)
)  # fmt: skip
"""The item's column for each of MATCHES (each indexed with the id: ``ix_item_<column>``)."""


def _row_keys(row: Item) -> tuple[str | None, ...]:
    return row.sender_address, row.thread_key, row.sender_domain, row.topic


@cache
def _settled_item(detached: tuple[str, ...]) -> ColumnElement[bool]:
    """An item the human's decisions on are settled (in SQL; ``item_is_decided`` has the last
    word): every action drafted for it (kinds not `detached`) decided, or nothing drafted and
    the item done. Kept once built: building it costs more than the lookups it is in."""
    held = col(Approval.kind).not_in(detached)
    drafted = exists().where(col(Approval.item_id) == col(Item.id), held)
    waiting = exists().where(col(Approval.item_id) == col(Item.id), held, ~settled())
    return and_(~waiting, or_(drafted, col(Item.state) == ItemState.DONE))


class LedgerExamples:
    """Examples from the ledger: for each way an item can be alike, its newest few settled
    items by one index (the same sender, thread, domain, topic), ranked in Python; then one
    query for their approvals. Within a rank the items with decisions on drafts come first
    among those newest few (``limit * OVERFETCH + 2`` of each), not among all of them: the
    lookup reads a few rows however long the ledger grows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def similar(self, item: AgentItem, limit: int) -> list[PastDecision]:
        keys = match_keys(item.message)
        if limit <= 0 or not any(keys):
            return []
        detached = tuple(KINDS.detached())
        rows: dict[int, Item] = {}
        with read_session(self.engine) as session:
            for column, value in zip(LOOKUPS, keys, strict=True):
                if not value:
                    continue
                query = (
                    select(Item)
                    .where(column == value, col(Item.id) < item.item_id, _settled_item(detached))
                    .order_by(col(Item.id).desc())
                    .limit(limit * OVERFETCH + 2)
                )
                rows.update((row.id, row) for row in session.exec(query) if row.id is not None)
            if not rows:
                return []
            approvals = session.exec(
                select(Approval)
                .where(col(Approval.item_id).in_(list(rows)), col(Approval.kind).not_in(detached))
                .order_by(col(Approval.id))
            ).all()
        by_item: dict[int, list[Approval]] = {}
        for approval in approvals:
            by_item.setdefault(approval.item_id, []).append(approval)
        ranked = sorted(
            ((rank_of(keys, _row_keys(row)), 0 if item_id in by_item else 1, -item_id, row)
             for item_id, row in rows.items()),
            key=lambda entry: entry[:3],
        )  # fmt: skip
        found: list[PastDecision] = []
        for row_rank, _drafted, _newest, past in ranked:
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
