"""The model provider failing — 429, 500, hangs, malformed answers — and then recovering.

The LLM is a scripted OpenAI-compatible server on loopback, reached through the real provider
SDK; everything else is the real pipeline. The daemon never dies, retries with backoff,
quarantines after N attempts with the reason, and loses nothing.
"""

from __future__ import annotations

import pytest
from pydantic_ai import models

from ambient.core.items import ItemState
from ambient.runtime import Runtime
from ambient.sources.maildir import deliver
from tests.daemon.mail import email_bytes
from tests.servers.fake_llm import FakeLLM


@pytest.fixture
def provider_settings(settings, fake_llm: FakeLLM, monkeypatch):
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)  # loopback only: the fake LLM
    settings.model = f"openai-compatible:{fake_llm.base_url}#fake"
    settings.agent.provider_retries = 1
    settings.agent.timeout_seconds = 1.0
    settings.worker.max_attempts = 3
    settings.worker.backoff_seconds = 30
    return settings


def deliver_messages(settings, count: int) -> None:
    for index in range(count):
        deliver(settings.maildir_path, email_bytes(f"m{index}", message_id=f"<f{index}@x>"))


async def test_errors_then_recovery_lose_nothing(provider_settings, secrets, clock, fake_llm):
    provider_settings.agent.timeout_seconds = 30.0  # no hangs here: keep slow machines green
    runtime = Runtime(provider_settings, secrets, clock)
    daemon = runtime.daemon
    deliver_messages(provider_settings, 4)
    fake_llm.default = "500"
    await daemon.run_once()  # every request fails, also the SDK's retry
    counts = runtime.ledger.counts().by_state
    assert counts["failed"] == 4
    errors = {item.last_error for item in runtime.ledger.items()}
    assert all(error and "500" in error for error in errors), errors

    fake_llm.default = "ok"
    fake_llm.script.extend(["429", "malformed"])
    clock.advance(seconds=31)  # past the first backoff
    await daemon.run_once()
    counts = runtime.ledger.counts().by_state
    assert counts["failed"] + counts["quarantined"] <= 1  # the malformed answer's item, if any
    clock.advance(seconds=61)
    await daemon.run_once()
    final = runtime.ledger.counts().by_state
    assert final["done"] + final["awaiting_approval"] == 4
    assert "429" in fake_llm.requests and "malformed" in fake_llm.requests


async def test_a_provider_that_stays_down_quarantines_with_the_reason(
    provider_settings, secrets, clock, fake_llm
):
    runtime = Runtime(provider_settings, secrets, clock)
    daemon = runtime.daemon
    deliver_messages(provider_settings, 2)
    fake_llm.default = "hang"
    fake_llm.hang_seconds = 3.0
    for _ in range(provider_settings.worker.max_attempts):
        await daemon.run_once()
        clock.advance(hours=2)
    items = runtime.ledger.items()
    assert [item.state for item in items] == [ItemState.QUARANTINED] * 2
    assert all(item.last_error for item in items)
    # the provider comes back and the user retries: nothing was lost
    fake_llm.default = "ok"
    for item in items:
        runtime.ledger.retry(item.id)
    await daemon.run_once()
    final = runtime.ledger.counts().by_state
    assert final["done"] + final["awaiting_approval"] == 2
