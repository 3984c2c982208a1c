"""Runs on an in-process model take turns; a run's timeout counts only its own turn.

The llama.cpp model is replaced by a slow fake (a runtime whose completion streams a fixed answer
token by token), registered where ``LocalModel`` finds its runtime; the turn-taking, the runtime
lock and the cancellation are ambient's real code.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.test import TestModel

from ambient.core.processing import TransientItemError
from ambient.models.local import model as local_model
from ambient.models.local import runtime as local_runtime
from ambient.models.local.model import LocalModel, LocalModelOptions
from ambient.models.local.runtime import LlamaRuntime
from ambient.models.local.turns import in_process_models, model_turn
from tests.agent.conftest import item_from, meeting_email

TRIAGE = {"decision": "notify", "reason": "fake", "priority": "normal", "summary": "fake"}
ENDLESS_SECONDS = 3.0
OUTPUT_TOOL = re.compile(r'\{"tool": "(final_result[^"]*)"')


class SlowLlama:
    """Streams a triage answer, `token_seconds` per token; an endless answer only stops when
    its reader stops (or after ENDLESS_SECONDS, so that a broken cancel fails, not hangs)."""

    def __init__(self, token_seconds: float) -> None:
        self.token_seconds = token_seconds
        self.endless_calls = 0  # the next N calls never finish by themselves
        self.active = 0
        self.most_active = 0
        self.stopped_early = 0
        self.finished = 0
        self._count_lock = threading.Lock()

    def create_chat_completion(self, **request: Any) -> Iterator[dict[str, Any]]:
        assert request["stream"] is True
        system = request["messages"][0]["content"]
        match = OUTPUT_TOOL.search(system)
        answer = {"tool": match.group(1), "arguments": TRIAGE} if match else TRIAGE
        endless = self.endless_calls > 0
        self.endless_calls -= 1 if endless else 0
        return self._stream(json.dumps(answer), endless)

    def _stream(self, text: str, endless: bool) -> Iterator[dict[str, Any]]:
        with self._count_lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        pieces = [text[i : i + 16] for i in range(0, len(text), 16)]
        give_up = time.monotonic() + ENDLESS_SECONDS
        try:
            index = 0
            while (endless and time.monotonic() < give_up) or index < len(pieces):
                time.sleep(self.token_seconds)
                piece = pieces[index % len(pieces)] if not endless else " "
                yield {"choices": [{"delta": {"content": piece}, "finish_reason": None}]}
                index += 1
            yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}
            self.finished += 1
        except GeneratorExit:
            self.stopped_early += 1
            raise
        finally:
            with self._count_lock:
                self.active -= 1


class FakeRuntime(LlamaRuntime):
    def count(self, text: str) -> int:
        return len(text) // 4 + 1

    def head(self, text: str, tokens: int) -> str:
        return text[: tokens * 4]

    def grammar(self, text: str) -> Any:
        return text


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(local_model, "require_llama_cpp", lambda: None)
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF fake weights")
    options = LocalModelOptions()
    llama = SlowLlama(token_seconds=0.02)
    runtime = FakeRuntime(llama)
    key = (path, options.context_tokens, options.threads)
    monkeypatch.setitem(local_runtime._runtimes, key, runtime)
    return LocalModel(path, name="fake", options=options), llama, runtime


async def test_concurrent_runs_each_get_their_whole_timeout(make_agent, settings, fake_model):
    model, llama, _runtime = fake_model
    llama.token_seconds = 0.3 / 6  # ~0.3s per answer (6 pieces)
    settings.agent.timeout_seconds = 1.0  # five runs sharing one clock would need 1.5s
    agent = make_agent(model)
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(agent.triage(item_from(meeting_email(), item_id=n)) for n in range(5))
    )
    assert [outcome.triage.reason for outcome in outcomes] == ["fake"] * 5
    assert llama.finished == 5 and llama.most_active == 1
    assert time.perf_counter() - started >= 1.2  # they did take turns


async def test_a_timed_out_run_lets_go_of_the_model_for_the_next(make_agent, settings, fake_model):
    model, llama, runtime = fake_model
    llama.endless_calls = 1
    settings.agent.timeout_seconds = 0.5
    agent = make_agent(model)
    first, second = await asyncio.gather(
        agent.triage(item_from(meeting_email(), item_id=1)),
        agent.triage(item_from(meeting_email(), item_id=2)),
        return_exceptions=True,
    )
    assert isinstance(first, TransientItemError) and "RunTimedOut" in str(first)
    assert not isinstance(second, BaseException) and second.triage.reason == "fake"
    assert llama.stopped_early == 1 and llama.finished == 1
    deadline = time.monotonic() + 5
    while runtime.lock.locked() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert not runtime.lock.locked()


async def test_runs_on_hosted_models_do_not_wait_for_a_turn(fake_model) -> None:
    model, _llama, _runtime = fake_model
    async with model_turn(model):  # an in-process run holds its turn ...
        async with asyncio.timeout(1):
            async with model_turn(TestModel()):  # ... and a hosted one goes ahead
                pass
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                async with model_turn(model):
                    pass


def test_in_process_models_are_found_behind_a_fallback(fake_model) -> None:
    model, _llama, _runtime = fake_model
    assert in_process_models(model) == [model]
    assert in_process_models(FallbackModel(TestModel(), model)) == [model]
    assert in_process_models(TestModel()) == []
