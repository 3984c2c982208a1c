"""Fixtures for memory: a seeded memory folder, an item in the ledger, the approvals queue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval
from ambient.core.config import Settings
from ambient.core.items import InboundItem
from ambient.core.ledger import Ledger
from ambient.memory.reflection import Reflector
from ambient.memory.store import MemoryStore
from ambient.tracing.steps import StepRecorder
from tests.conftest import FrozenClock
from tests.memory.scripted import Reflecting

MEETING = (Path(__file__).parents[2] / "ambient/templates/samples/01-meeting.eml").read_bytes()
THREAD = frozenset({"dana@northwind.example", "you@example.com"})


@pytest.fixture
def store(settings: Settings) -> MemoryStore:
    memory = MemoryStore(settings.memory_dir)
    memory.seed()
    return memory


@pytest.fixture
def queue(settings: Settings, engine: Engine, clock: FrozenClock) -> ApprovalQueue:
    return ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))


@pytest.fixture
def item_id(settings: Settings, engine: Engine, clock: FrozenClock) -> int:
    ledger = Ledger(engine, clock, settings.worker)
    return ledger.ingest(InboundItem(source="inbox", key="meeting-1", raw=MEETING)).item_id


@pytest.fixture
def drafted_reply(queue: ApprovalQueue, item_id: int) -> Callable[[], Approval]:
    """Queue a reply draft for the meeting email, as the agent would."""

    def draft() -> Approval:
        (row,) = queue.queue_drafts(
            context=ActionContext(item_id, THREAD, f"{item_id}:digest"),
            trace_id="trace-1",
            run_state=None,
            drafts=[
                DraftedAction(
                    kind="reply_email",
                    tool_call_id="call-1",
                    args={
                        "to": ["dana@northwind.example"],
                        "subject": "Re: Can we move Thursday's review to Friday?",
                        "body": "Sure! Friday works great!!! Cheers",
                    },
                    rationale="a colleague asks to move a meeting",
                )
            ],
        )
        return row

    return draft


@pytest.fixture
def make_reflector(
    settings: Settings, engine: Engine, clock: FrozenClock, queue: ApprovalQueue, store: MemoryStore
) -> Callable[..., Reflector]:
    """A Reflector over this test's queue and memory, run by a scripted model."""

    def make(model: Reflecting, steps: StepRecorder | None = None) -> Reflector:
        return Reflector(
            engine=engine,
            clock=clock,
            settings=settings,
            queue=queue,
            store=store,
            model=model.model,
            steps=steps,
        )

    return make
