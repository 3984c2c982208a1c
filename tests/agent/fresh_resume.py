"""Run in a fresh process by test_reviser: resume paused runs from the database, nothing else.

The model follows the feedback it is given; what it saw is printed as JSON for the test.
"""

from __future__ import annotations

import asyncio
import json
import sys

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from ambient.agent.processor import build_queue
from ambient.agent.reviser import FeedbackReviser
from ambient.agent.runner import TriageAgent
from ambient.core.clock import SystemClock
from ambient.core.config import load_settings
from ambient.core.db import open_database
from ambient.core.ledger import Ledger
from ambient.memory.store import MemoryStore
from tests.agent.scripted import call, tool_returns

seen: list[dict[str, str]] = []


def follow_feedback(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    returns = tool_returns(messages)
    seen.extend({"tool": part.tool_name, "content": str(part.content)} for part in returns)
    feedback = next(part for part in returns if "feedback" in str(part.content))
    wanted = str(feedback.content).split("feedback: ", 1)[1].split("\n", 1)[0]
    return ModelResponse(
        parts=[call("reply_email", body=f"Revised: {wanted}", rationale="revised after feedback")]
    )


async def main() -> int:
    settings, _secrets = load_settings()
    clock = SystemClock()
    engine = open_database(settings.resolved_database_url)
    agent = TriageAgent(
        settings, FunctionModel(follow_feedback), MemoryStore(settings.memory_dir), clock
    )
    reviser = FeedbackReviser(
        agent,
        build_queue(settings, engine, clock),
        Ledger(engine, clock, settings.worker),
        clock,
        settings.worker,
    )
    revised = await reviser.tick()
    sys.stdout.write(json.dumps({"revised": revised, "seen": seen}) + "\n")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
