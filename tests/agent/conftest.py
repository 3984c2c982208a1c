"""Fixtures for the agent: memory files, the approvals queue, the ledger, an agent factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic_ai.models import Model
from sqlalchemy import Engine

from ambient.agent.deps import AgentItem
from ambient.agent.runner import TriageAgent
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.core.config import Settings
from ambient.core.items import InboundItem
from ambient.core.ledger import ClaimedItem, Ledger
from ambient.memory.store import MemoryStore
from tests.conftest import FrozenClock
from tests.daemon.mail import email_bytes

TRIAGE_RULES = """\
# Triage rules

## Meetings
Reply to meeting requests from colleagues at example.com; propose a time.

## Newsletters
Ignore newsletters.
"""

PROFILE = "# Profile\nName: Robin Example. Works at example.com.\n"


@pytest.fixture
def memory(settings: Settings) -> MemoryStore:
    folder = settings.memory_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "triage_rules.md").write_text(TRIAGE_RULES, encoding="utf-8")
    (folder / "profile.md").write_text(PROFILE, encoding="utf-8")
    return MemoryStore(folder)


@pytest.fixture
def make_agent(
    settings: Settings, memory: MemoryStore, clock: FrozenClock
) -> Callable[[Model], TriageAgent]:
    def make(model: Model) -> TriageAgent:
        return TriageAgent(settings, model, memory, clock)

    return make


@pytest.fixture
def queue(settings: Settings, engine: Engine, clock: FrozenClock) -> ApprovalQueue:
    return ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))


@pytest.fixture
def ledger(settings: Settings, engine: Engine, clock: FrozenClock) -> Ledger:
    return Ledger(engine, clock, settings.worker)


def item_from(raw: bytes, item_id: int = 7) -> AgentItem:
    return AgentItem.from_raw(item_id, "0" * 32, raw)


def meeting_email(**overrides: str) -> bytes:
    values = {
        "subject": "Meeting on Friday?",
        "sender": "Dana <dana@example.com>",
        "body": "Hi Robin, can we meet on Friday at 10 to go through the budget?\nDana",
    }
    values.update(overrides)
    return email_bytes(values["subject"], sender=values["sender"], body=values["body"])


def claim_one(ledger: Ledger, raw: bytes, key: str = "k1") -> ClaimedItem:
    ledger.ingest(InboundItem("inbox", key, raw))
    (claimed,) = ledger.claim("test-worker", 1)
    return claimed


@pytest.fixture
def notes_dir(settings: Settings) -> Path:
    return settings.notes_dir
