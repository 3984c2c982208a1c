"""Fixtures for the approvals tests: a ledger with emails in it, the queue, drafts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval
from ambient.core.config import Settings
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from ambient.core.message import content_digest, parse_message
from tests.conftest import FrozenClock

THREAD_START = (
    b"From: Dana <dana@example.com>\r\n"
    b"To: me@example.com\r\n"
    b"Cc: lee@example.com\r\n"
    b"Subject: Lunch on Friday?\r\n"
    b"Message-ID: <lunch-2@example.com>\r\n"
    b"In-Reply-To: <lunch-1@example.com>\r\n"
    b"References: <lunch-1@example.com>\r\n"
    b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"Shall we have lunch on Friday at noon?\r\n"
)


def email_in_thread(
    message_id: str, *, date: str = "Mon, 23 Nov 2026 11:00:00 +0000", body: str = "Also..."
) -> bytes:
    return (
        "From: Dana <dana@example.com>\r\nTo: me@example.com\r\nSubject: Re: Lunch on Friday?\r\n"
        f"Message-ID: {message_id}\r\nIn-Reply-To: <lunch-2@example.com>\r\n"
        f"References: <lunch-1@example.com> <lunch-2@example.com>\r\nDate: {date}\r\n\r\n{body}\r\n"
    ).encode()


@pytest.fixture
def ledger(engine: Engine, clock: FrozenClock, settings: Settings) -> Ledger:
    return Ledger(engine, clock, settings.worker)


@pytest.fixture
def policy(settings: Settings) -> PolicyGate:
    return PolicyGate.from_settings(settings)


@pytest.fixture
def queue(
    engine: Engine, clock: FrozenClock, settings: Settings, policy: PolicyGate
) -> ApprovalQueue:
    return ApprovalQueue(engine, clock, settings, policy)


AddItem = Callable[..., int]


@pytest.fixture
def add_item(ledger: Ledger) -> AddItem:
    counter = iter(range(1, 10_000))

    def add(raw: bytes = THREAD_START, *, awaiting: bool = True) -> int:
        result = ledger.ingest(InboundItem("inbox", f"key-{next(counter)}", raw))
        if awaiting:
            ledger.set_state(result.item_id, ItemState.AWAITING_APPROVAL)
        return result.item_id

    return add


def context_for(ledger: Ledger, item_id: int) -> ActionContext:
    raw = ledger.content(item_id)
    parsed = parse_message(raw)
    return ActionContext(
        item_id=item_id,
        thread_addresses=frozenset(parsed.thread_addresses | {"me@example.com"}),
        item_version=f"{item_id}:{content_digest(raw)[:16]}",
    )


def reply(**overrides: Any) -> DraftedAction:
    args: dict[str, Any] = {
        "to": ["dana@example.com"],
        "subject": "Re: Lunch on Friday?",
        "body": "Friday at noon works. See you then!",
    }
    args.update(overrides)
    return DraftedAction(
        "reply_email", f"call-{abs(hash(str(args))) % 10_000}", args, "Dana asked."
    )


Queue = Callable[..., list[Approval]]


@pytest.fixture
def queue_for(queue: ApprovalQueue, ledger: Ledger, add_item: AddItem) -> Queue:
    """Queue drafts for a (new, unless given) item; returns the rows."""

    def queue_drafts(
        *drafts: DraftedAction, item_id: int | None = None, **kwargs: Any
    ) -> list[Approval]:
        item = item_id if item_id is not None else add_item()
        return queue.queue_drafts(
            context=context_for(ledger, item),
            trace_id="0" * 32,
            run_state='{"state": "opaque"}',
            drafts=list(drafts or [reply()]),
            **kwargs,
        )

    return queue_drafts
