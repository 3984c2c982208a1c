"""FunctionModel helpers: models that answer in a scripted or rule-following way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

Step = Callable[[list[ModelMessage], AgentInfo], ModelResponse]
PartSpec = ModelResponsePart | Callable[[AgentInfo], ModelResponsePart]


def triage(
    decision: str = "notify",
    reason: str = "a reason",
    summary: str = "a summary",
    priority: str = "normal",
) -> Callable[[AgentInfo], ModelResponsePart]:
    """The final-result call, whatever the output tool is named."""

    def part(info: AgentInfo) -> ModelResponsePart:
        args = {"decision": decision, "reason": reason, "summary": summary, "priority": priority}
        return ToolCallPart(info.output_tools[0].name, args)

    return part


def call(tool: str, **args: Any) -> ToolCallPart:
    return ToolCallPart(tool, args)


def text(content: str) -> TextPart:
    return TextPart(content)


def respond(*parts: PartSpec) -> Step:
    def step(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[part(info) if callable(part) else part for part in parts])

    return step


class Script:
    """Answers request N with step N; records what each request looked like."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[list[ModelMessage]] = []
        self.infos: list[AgentInfo] = []

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.requests.append(list(messages))
        self.infos.append(info)
        index = len(self.requests) - 1
        assert index < len(self.steps), f"unscripted request #{index + 1}: {messages[-1]}"
        return self.steps[index](messages, info)

    @property
    def model(self) -> FunctionModel:
        return FunctionModel(self)


def last_request(messages: Sequence[ModelMessage]) -> ModelRequest:
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    return request


def tool_returns(messages: Sequence[ModelMessage]) -> list[ToolReturnPart]:
    return [part for part in last_request(messages).parts if isinstance(part, ToolReturnPart)]


def user_prompt(messages: Sequence[ModelMessage]) -> str:
    """The prompt carrying the email (Pydantic AI may put a note on lookalike tags before it)."""
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and "<untrusted_email" in str(part.content):
                    return str(part.content)
    raise AssertionError("no user prompt with the email")
