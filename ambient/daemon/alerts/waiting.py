"""What waits for the human: pending drafts and questions in the approvals queue, unread
"notify" items; and, for an alert's lines, what each one is and whom it is from.

A waiting thing is named ``approval:ID`` or ``item:ID``. Drafts and questions are approvals a
human decision applies to (pending or blocked; a question is a kind that asks, ``ask_user``);
notify items are done items whose review is still unread (:mod:`ambient.core.review`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, Literal

from sqlalchemy import Engine
from sqlmodel import col, select

from ambient.approvals.kinds import KINDS
from ambient.approvals.tables import AWAITING_HUMAN, Approval
from ambient.core.alert_settings import WaitingKind
from ambient.core.db import read_session
from ambient.core.items import Review
from ambient.core.tables import Item

ThingKind = Literal["draft", "question", "notify"]
KIND_OF_SETTING: dict[WaitingKind, ThingKind] = {
    "drafts": "draft",
    "questions": "question",
    "notify": "notify",
}
EXCERPT_CHARS = 120
SUBJECT_CHARS = 80


@dataclass(frozen=True)
class WaitingThing:
    thing: str  # "approval:12", "item:40"
    kind: ThingKind


@dataclass(frozen=True)
class ThingDetails:
    """One waiting thing as an alert line shows it (the excerpt only when bodies are on)."""

    thing: str
    kind: ThingKind
    who: str  # the sender's name, else their address
    subject: str
    action: str = ""  # a draft's kind and whom it concerns: "reply ann@example.com"
    excerpt: str = ""  # a short piece of the draft, the question, or the item's summary


def _who(sender: str) -> str:
    name, address = parseaddr(sender)
    return name or address or sender or "unknown sender"


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _approval_kind(kind: str) -> ThingKind:
    known = KINDS.get(kind)
    return "question" if known is not None and known.asks else "draft"


class WaitingThings:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def current(self, kinds: Collection[ThingKind]) -> list[WaitingThing]:
        """Everything of these kinds waiting now, oldest first."""
        things: list[WaitingThing] = []
        with read_session(self.engine) as session:
            if {"draft", "question"} & set(kinds):
                rows = session.exec(
                    select(Approval.id, Approval.kind)
                    .where(col(Approval.status).in_(list(AWAITING_HUMAN)))
                    .order_by(col(Approval.id))
                )
                for approval_id, kind in rows:
                    thing_kind = _approval_kind(kind)
                    if thing_kind in kinds:
                        things.append(WaitingThing(f"approval:{approval_id}", thing_kind))
            if "notify" in kinds:
                items = session.exec(
                    select(Item.id).where(Item.review == Review.UNREAD).order_by(col(Item.id))
                )
                things.extend(WaitingThing(f"item:{item_id}", "notify") for item_id in items)
        return things

    def details(self, things: Sequence[str]) -> list[ThingDetails]:
        """The lines' facts for these things ("approval:12"), in their order (one gone
        meanwhile is left out)."""
        approval_ids = [_number(thing) for thing in things if thing.startswith("approval:")]
        item_ids = [_number(thing) for thing in things if thing.startswith("item:")]
        found: dict[str, ThingDetails] = {}
        with read_session(self.engine) as session:
            if approval_ids:
                query = (
                    select(Approval, Item)
                    .join(Item, col(Item.id) == col(Approval.item_id))
                    .where(col(Approval.id).in_(approval_ids))
                )
                for approval, item in session.exec(query):
                    details = _approval_details(approval, item)
                    found[details.thing] = details
            if item_ids:
                for item in session.exec(select(Item).where(col(Item.id).in_(item_ids))):
                    found[f"item:{item.id}"] = _item_details(item)
        return [found[thing] for thing in things if thing in found]


def _number(thing: str) -> int:
    return int(thing.rpartition(":")[2])


def _approval_details(approval: Approval, item: Item) -> ThingDetails:
    kind = KINDS.of(approval.kind)
    args = approval.effective_args
    thing_kind = _approval_kind(approval.kind)
    if thing_kind == "question":
        action, excerpt = "", str(args.get("question", ""))
    else:
        action = f"{kind.label} {kind.concerns(args)}".strip()
        excerpt = kind.shown_body(args) or kind.summary(args)
    return ThingDetails(
        thing=f"approval:{approval.id}",
        kind=thing_kind,
        who=_who(item.sender),
        subject=_short(item.subject or "(no subject)", SUBJECT_CHARS),
        action=action,
        excerpt=_short(excerpt, EXCERPT_CHARS),
    )


def _item_details(item: Item) -> ThingDetails:
    triage: dict[str, Any] = json.loads(item.triage_json) if item.triage_json else {}
    return ThingDetails(
        thing=f"item:{item.id}",
        kind="notify",
        who=_who(item.sender),
        subject=_short(item.subject or "(no subject)", SUBJECT_CHARS),
        excerpt=_short(str(triage.get("summary", "")), EXCERPT_CHARS),
    )
