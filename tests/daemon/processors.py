"""Item processors for daemon tests: a real Pydantic AI agent on a FunctionModel."""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from ambient.core.items import ItemState
from ambient.core.ledger import ClaimedItem
from ambient.core.message import parse_message
from ambient.core.processing import ItemOutcome


class Decision(BaseModel):
    decision: Literal["ignore", "notify", "act"]
    summary: str


def instant_model(decision: str = "notify") -> FunctionModel:
    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        tool = info.output_tools[0].name
        args = {"decision": decision, "summary": "summarised"}
        return ModelResponse(parts=[ToolCallPart(tool_name=tool, args=args)])

    return FunctionModel(respond)


class AgentTestProcessor:
    """Runs a real agent per item; can be slowed down or made to fail for a subject."""

    def __init__(self, model: FunctionModel | None = None, delay: float = 0.0) -> None:
        self.agent = Agent(model or instant_model(), output_type=Decision)
        self.delay = delay
        self.running = 0
        self.max_running = 0
        self.seen: list[int] = []

    async def process(self, item: ClaimedItem) -> ItemOutcome:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            message = parse_message(item.raw)
            if "explode" in message.subject:
                raise RuntimeError("model provider returned 500")
            if self.delay:
                await asyncio.sleep(self.delay)
            result = await self.agent.run(f"<untrusted_email>{message.text}</untrusted_email>")
            self.seen.append(item.id)
            return ItemOutcome(ItemState.DONE, result.output.model_dump())
        finally:
            self.running -= 1
