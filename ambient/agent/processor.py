"""The item processor the worker calls: run the agent on an item, record its triage."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_ai import Agent
from pydantic_ai.models import Model
from pydantic_ai.models.test import TestModel
from sqlalchemy import Engine

from ambient.clock import Clock
from ambient.config import Secrets, Settings
from ambient.daemon.ledger import ClaimedItem
from ambient.daemon.worker import ItemOutcome
from ambient.items import ItemState
from ambient.message import parse_message


class Triage(BaseModel):
    decision: Literal["ignore", "notify", "act"]
    reason: str = Field(max_length=500)
    priority: Literal["low", "normal", "high"] = "normal"
    summary: str = Field(max_length=200)


def resolve_model(settings: Settings) -> Model | str:
    if settings.model == "test":
        return TestModel()
    return settings.model


class AgentProcessor:
    def __init__(self, agent: Agent[None, Triage]) -> None:
        self.agent = agent

    async def process(self, item: ClaimedItem) -> ItemOutcome:
        message = parse_message(item.raw)
        prompt = f"<untrusted_email>\nSubject: {message.subject}\n\n{message.text}\n</untrusted_email>"
        result = await self.agent.run(prompt)
        return ItemOutcome(state=ItemState.DONE, triage=result.output.model_dump())


def build_processor(settings: Settings, secrets: Secrets, engine: Engine, clock: Clock) -> AgentProcessor:
    agent = Agent(resolve_model(settings), output_type=Triage, instructions="Triage the email.")
    return AgentProcessor(agent)
