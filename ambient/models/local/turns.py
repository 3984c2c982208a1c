"""Runs on an in-process model take turns, so that a run's timeout counts only its own work.

llama.cpp runs one completion at a time per process (``LlamaRuntime.lock``). If several agent runs
shared it freely, each run's clock (``agent.timeout_seconds``) would tick while it waited for the
others, and at worker concurrency 4 the last items would time out one after another. So a run on
an in-process model first waits for its turn (one per event loop, first come first served), and
only then starts the run and its clock. Runs on hosted models do not wait.

A run that times out is cancelled; the completion thread it started notices at its next token
and lets go of the model (see ``LocalModel.request``), so the next run is not kept waiting.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic_ai.models import Model
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.wrapper import WrapperModel

from ambient.models.local.model import LocalModel

_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def in_process_models(model: Model | str | None) -> list[LocalModel]:
    """The in-process models a model would run: itself, or inside a fallback or a wrapper."""
    if isinstance(model, LocalModel):
        return [model]
    if isinstance(model, FallbackModel):
        return [local for member in model.models for local in in_process_models(member)]
    if isinstance(model, WrapperModel):
        return in_process_models(model.wrapped)
    return []


def _turn_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _turns.get(loop)
    if lock is None:
        lock = _turns[loop] = asyncio.Lock()
    return lock


@asynccontextmanager
async def model_turn(model: Model | str | None) -> AsyncIterator[None]:
    """Wait for this run's turn on an in-process model (no wait for any other model)."""
    if not in_process_models(model):
        yield
        return
    async with _turn_lock():
        yield
