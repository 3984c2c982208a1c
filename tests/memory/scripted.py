"""Reflection models for tests: FunctionModels that propose a diff or decline."""

from __future__ import annotations

from collections.abc import Callable

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from ambient.core.diffs import make_diff
from ambient.memory.store import MemoryStore

Proposal = Callable[[], tuple[str, str]]  # -> (file, diff)


def _tool(info: AgentInfo, name: str) -> str:
    return next(tool.name for tool in info.output_tools if name in tool.name)


def prompt_text(messages: list[ModelMessage]) -> str:
    parts = [
        part for message in messages if isinstance(message, ModelRequest) for part in message.parts
    ]
    return "\n".join(str(getattr(part, "content", "")) for part in parts)


class Reflecting:
    """Answers each request with the next step; records every prompt it was sent."""

    def __init__(self, *steps: Proposal | str) -> None:
        self.steps = list(steps)
        self.prompts: list[str] = []
        self.model = FunctionModel(self._respond)

    def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.prompts.append(prompt_text(messages))
        step = self.steps.pop(0)
        if isinstance(step, str):
            part = ToolCallPart(_tool(info, "NoMemoryChange"), {"reason": step})
        else:
            file, diff = step()
            args = {"file": file, "diff": diff, "reason": "Customers get calm, plain replies."}
            part = ToolCallPart(_tool(info, "MemoryChangeProposal"), args)
        return ModelResponse(parts=[part])


def add_line(store: MemoryStore, file: str, after: str, line: str) -> Proposal:
    """A proposal computed when the model is asked, against the file's text at that moment."""

    def proposal() -> tuple[str, str]:
        text = store.read(file)
        anchor = next(row for row in text.splitlines(keepends=True) if row.startswith(after))
        return file, make_diff(file, text, text.replace(anchor, anchor + line + "\n", 1))

    return proposal


def fixed(file: str, diff: str) -> Proposal:
    return lambda: (file, diff)
