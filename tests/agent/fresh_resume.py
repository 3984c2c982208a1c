"""Run in a fresh process by test_reviser: resume paused runs from the database, nothing else.

The model follows the feedback it is given; what it saw is printed as JSON for the test.
"""

from __future__ import annotations

import asyncio
import json
import sys

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from ambient.agent.runner import TriageAgent
from ambient.core.config import load_settings
from ambient.runtime import Runtime
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
    runtime = Runtime(*load_settings())
    runtime.agent = TriageAgent(  # the runtime's parts, on a model that follows the feedback
        runtime.settings, FunctionModel(follow_feedback), runtime.memory, runtime.clock
    )
    revised = await runtime.reviser.tick()
    sys.stdout.write(json.dumps({"revised": revised, "seen": seen}) + "\n")
    await runtime.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
