"""The human's review of what the agent let pass: "notify" items to read, "ignore" decisions
to confirm or overturn.

An item that ends done with a notify or ignore triage waits for review (:func:`review_after`,
which the ledger applies as it completes the item): unread, or unreviewed. Reading and
confirming are one transaction that returns a refusal per item instead of raising, as approval
decisions do. Overturning an ignore puts the item back in the ledger as new, with an
:class:`Overturn` (the decision overturned, the pre-rule that made it, the human's words): the
worker's claim hands it to the agent, which then skips the pre-rules and is told the user wants
action; memory reflection learns from it once (:meth:`ItemReview.pending_reflections`,
:meth:`ItemReview.mark_reflected`). Items decided before reviews existed have no review.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import col, select

from ambient.core.clock import Clock
from ambient.core.db import read_session, write_session
from ambient.core.errors import DecisionError, NotFoundError
from ambient.core.items import ItemState, Review
from ambient.core.lineage import Lineage
from ambient.core.tables import Item

log = logging.getLogger(__name__)

INBOX = (Review.UNREAD, Review.READ)
IGNORED = (Review.UNREVIEWED, Review.CONFIRMED, Review.OVERTURNED)
WAITING = {"notify": Review.UNREAD, "ignore": Review.UNREVIEWED}
NOTE_MAX_CHARS = 2000


def review_after(
    current: Review | None, state: ItemState, triage: dict[str, Any] | None
) -> Review | None:
    """An item's review once it completes: a done notify or ignore waits for the human; an
    overturned item keeps its overturn (its re-run is the user's own request)."""
    if current == Review.OVERTURNED or state != ItemState.DONE or not triage:
        return current
    return WAITING.get(str(triage.get("decision")), current)


@dataclass(frozen=True)
class Overturn:
    """An ignore decision the human overturned: what it was, and what they said."""

    decision: str
    reason: str  # the agent's (or the rule's) reason for the decision
    summary: str
    pre_rule: str | None  # the pre-rule that decided it without a model, if one did
    note: str  # the human's words: what they want done ("" when they gave none)
    at: datetime
    priority: str = "normal"

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | None) -> Overturn | None:
        if not text:
            return None
        values = json.loads(text)
        return cls(**{**values, "at": datetime.fromisoformat(values["at"])})


@dataclass(frozen=True)
class ReviewEntry:
    """One item as the inbox and the ignored list show it."""

    item_id: int
    source: str
    sender: str
    subject: str
    review: Review
    state: ItemState
    decision: str  # for an overturned item: the decision overturned
    priority: str
    summary: str
    reason: str
    pre_rule: str | None
    received_at: datetime
    reviewed_at: datetime | None
    note: str = ""  # the human's words when they overturned it

    @property
    def who(self) -> str:
        """The sender's name, else their address (for a narrow column)."""
        name, address = parseaddr(self.sender)
        return name or address or self.sender

    @property
    def what(self) -> str:
        """What it is and why it was decided so, on one line."""
        return " · ".join(part for part in (self.summary or self.subject, self.reason) if part)

    def as_json(self) -> dict[str, Any]:
        values = asdict(self)
        values["review"] = self.review.value
        values["state"] = self.state.value
        return values


@dataclass(frozen=True)
class ReviewCounts:
    unread: int  # notify items not read yet
    unreviewed: int  # ignore decisions not confirmed or overturned yet


@dataclass(frozen=True)
class ReviewOutcome:
    item_id: int
    ok: bool
    reason: str | None = None  # why it was refused


def entry_of(row: Item) -> ReviewEntry:
    assert row.id is not None and row.review is not None
    triage = json.loads(row.triage_json) if row.triage_json else {}
    overturn = Overturn.from_json(row.overturn_json) if row.review == Review.OVERTURNED else None
    lineage = Lineage.from_json(row.lineage_json)
    pre_rule = lineage.pre_rule if lineage is not None else None
    return ReviewEntry(
        item_id=row.id,
        source=row.source,
        sender=row.sender,
        subject=row.subject,
        review=row.review,
        state=ItemState(row.state),
        decision=overturn.decision if overturn else str(triage.get("decision", "")),
        priority=overturn.priority if overturn else str(triage.get("priority", "normal")),
        summary=overturn.summary if overturn else str(triage.get("summary", "")),
        reason=overturn.reason if overturn else str(triage.get("reason", "")),
        pre_rule=overturn.pre_rule if overturn else pre_rule,
        received_at=row.received_at or row.created_at,
        reviewed_at=row.reviewed_at,
        note=overturn.note if overturn else "",
    )


class ItemReview:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    # ---- reads ---------------------------------------------------------------------------
    def _entries(
        self, reviews: Sequence[Review], since: datetime | None, limit: int
    ) -> list[ReviewEntry]:
        query = select(Item).where(col(Item.review).in_(list(reviews)))
        if since is not None:
            query = query.where(col(Item.created_at) >= since)
        with read_session(self.engine) as session:
            rows = session.exec(query.order_by(col(Item.id).desc()).limit(limit))
            return [entry_of(row) for row in rows]

    def inbox(self, limit: int = 200) -> list[ReviewEntry]:
        """The notify items, read or not, newest first."""
        return self._entries(INBOX, None, limit)

    def ignored(self, since: datetime | None = None, limit: int = 200) -> list[ReviewEntry]:
        """The ignore decisions (that came in `since`), with their review, newest first."""
        return self._entries(IGNORED, since, limit)

    def counts(self) -> ReviewCounts:
        waiting = [Review.UNREAD, Review.UNREVIEWED]
        with read_session(self.engine) as session:
            rows = dict(
                session.exec(
                    select(Item.review, func.count())
                    .where(col(Item.review).in_(waiting))
                    .group_by(Item.review)
                ).all()
            )
        return ReviewCounts(rows.get(Review.UNREAD, 0), rows.get(Review.UNREVIEWED, 0))

    # ---- the human's review --------------------------------------------------------------
    def _settle(
        self, item_ids: Sequence[int], allowed: tuple[Review, ...], to: Review, what: str
    ) -> list[ReviewOutcome]:
        now = self.clock.now()
        outcomes: list[ReviewOutcome] = []
        with write_session(self.engine) as session:
            for item_id in item_ids:
                row = session.get(Item, item_id)
                if row is None:
                    outcomes.append(ReviewOutcome(item_id, False, "no such item"))
                    continue
                if row.review not in allowed:
                    shown = row.review.value if row.review else "not waiting for review"
                    outcomes.append(ReviewOutcome(item_id, False, f"not {what} ({shown})"))
                    continue
                if row.review != to:
                    row.review, row.reviewed_at = to, now
                    session.add(row)
                outcomes.append(ReviewOutcome(item_id, True))
        return outcomes

    def read(self, item_ids: Sequence[int]) -> list[ReviewOutcome]:
        """Mark notify items read (one already read stays so)."""
        return self._settle(item_ids, INBOX, Review.READ, "a notify item")

    def confirm(self, item_ids: Sequence[int]) -> list[ReviewOutcome]:
        """Confirm ignore decisions: the agent was right to let them pass."""
        allowed = (Review.UNREVIEWED, Review.CONFIRMED)
        return self._settle(item_ids, allowed, Review.CONFIRMED, "an ignore decision to confirm")

    def overturn(self, item_id: int, note: str = "") -> Overturn:
        """The agent should not have ignored this: run the item again, as the user's request
        to act on it (the pre-rules skipped), and let memory learn from it."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = session.get(Item, item_id)
            if row is None:
                raise NotFoundError(f"item {item_id} does not exist")
            if row.review not in (Review.UNREVIEWED, Review.CONFIRMED) or (
                row.state != ItemState.DONE
            ):
                shown = row.review.value if row.review else ItemState(row.state).value
                raise DecisionError(
                    f"item {item_id} is {shown}: only an ignore decision can be overturned"
                )
            triage = json.loads(row.triage_json) if row.triage_json else {}
            lineage = Lineage.from_json(row.lineage_json)
            overturn = Overturn(
                decision=str(triage.get("decision", "ignore")),
                reason=str(triage.get("reason", "")),
                summary=str(triage.get("summary", "")),
                pre_rule=lineage.pre_rule if lineage is not None else None,
                note=" ".join(note.split())[:NOTE_MAX_CHARS],
                at=now,
                priority=str(triage.get("priority", "normal")),
            )
            row.review, row.reviewed_at = Review.OVERTURNED, now
            row.overturn_json = overturn.to_json()
            row.reflected_at = None
            row.state, row.attempts, row.next_attempt_at = ItemState.NEW, 0, now
            row.last_error = None
            row.updated_at = now
            session.add(row)
        log.info("item=%s ignore overturned: queued to run again as act", item_id)
        return overturn

    # ---- what memory reflection learns from -------------------------------------------------
    def pending_reflections(self, limit: int) -> list[Item]:
        """Overturned items memory has not learned from yet, oldest first."""
        query = (
            select(Item)
            .where(Item.review == Review.OVERTURNED, col(Item.reflected_at).is_(None))
            .order_by(col(Item.id))
            .limit(limit)
        )
        with read_session(self.engine) as session:
            return list(session.exec(query))

    def mark_reflected(self, item_id: int) -> None:
        with write_session(self.engine) as session:
            row = session.get(Item, item_id)
            if row is not None:
                row.reflected_at = self.clock.now()
                session.add(row)
