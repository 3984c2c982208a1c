"""Tracing fixtures: a Langfuse project on the loopback receiver, tracing wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import Engine

from ambient.core.config import Secrets, Settings
from ambient.core.db import open_database
from ambient.core.items import InboundItem
from ambient.core.ledger import ClaimedItem, Ledger
from ambient.tracing.assembly import Tracing, open_tracing
from ambient.tracing.forwarder import SpanForwarder
from tests.conftest import FrozenClock
from tests.daemon.mail import email_bytes
from tests.servers.langfuse_receiver import LangfuseProject

SECRET_PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def tracing_settings(settings: Settings) -> Settings:
    settings.tracing.forward_timeout_seconds = 0.5
    settings.tracing.forward_backoff_seconds = 2.0
    settings.tracing.spool_interval_seconds = 0.05
    settings.tracing.redact_patterns = [r"\b\d{4}-\d{4}-\d{4}-\d{4}\b"]  # card numbers
    return settings


@pytest.fixture(params=["sqlite", "postgresql"])
def spool_engine(request: pytest.FixtureRequest, engine: Engine) -> Iterator[Engine]:
    """The test's SQLite database, or a fresh PostgreSQL one (several daemons share it)."""
    if request.param == "sqlite":
        yield engine
        return
    postgres = open_database(request.getfixturevalue("postgres_url"))
    yield postgres
    postgres.dispose()


@pytest.fixture
def langfuse_secrets(langfuse_project: LangfuseProject) -> Secrets:
    return Secrets({**langfuse_project.environment(), "WORK_IMAP_PASSWORD": SECRET_PASSWORD})


@pytest.fixture
def tracing(
    tracing_settings: Settings, langfuse_secrets: Secrets, engine: Engine, clock: FrozenClock
) -> Iterator[Tracing]:
    opened = open_tracing(tracing_settings, langfuse_secrets, engine, clock)
    assert opened.tracer.enabled
    yield opened
    opened.close()


@pytest.fixture
async def forwarder(tracing: Tracing) -> AsyncIterator[SpanForwarder]:
    forwarder = tracing.forwarder()
    assert forwarder is not None
    yield forwarder
    await forwarder.aclose()


def claim_item(
    engine: Engine, clock: FrozenClock, settings: Settings, *, key: str = "cur/1", body: str = ""
) -> ClaimedItem:
    """An email ingested into the ledger and claimed, as the worker would hold it."""
    ledger = Ledger(engine, clock, settings.worker)
    raw = email_bytes(
        "Quarterly numbers",
        message_id=f"<{key.replace('/', '-')}@example.com>",
        body=body or "Could you send me the numbers by Friday?",
    )
    ledger.ingest(InboundItem(source="inbox", key=key, raw=raw))
    (claimed,) = ledger.claim("test-worker", 1)
    return claimed
