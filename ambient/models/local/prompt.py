"""The chat the offline model sees: the agent's history as turns, cut to fit its context window."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from pydantic_ai.messages import (
    BaseToolReturnPart,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryFeedbackPart,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)

Role = Literal["system", "user", "assistant"]
TRIMMED_MARKER = "\n[... trimmed to fit the local model's context window ...]"
TURN_OVERHEAD_TOKENS = 8  # <|im_start|>role\n ... <|im_end|>\n and the like


@dataclass(frozen=True)
class ChatTurn:
    role: Role
    text: str
    fixed: str = ""  # appended after `text` and never trimmed (the answer guide)

    @property
    def content(self) -> str:
        if self.text and self.fixed:
            return f"{self.text}\n\n{self.fixed}"
        return self.text or self.fixed


class Tokenizer(Protocol):
    def count(self, text: str) -> int: ...

    def head(self, text: str, tokens: int) -> str:
        """The beginning of `text`, at most `tokens` tokens long."""
        ...


def chat_turns(
    messages: Sequence[ModelMessage], instructions: str | None, guide: str
) -> list[ChatTurn]:
    """The history as alternating turns, the instructions and the answer guide first."""
    turns = [ChatTurn("system", instructions or "")]
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                turn = _request_turn(part)
                if turn is not None:
                    turns.append(turn)
        elif isinstance(message, ModelResponse):
            for response_part in message.parts:
                if isinstance(response_part, ToolCallPart):
                    call = {
                        "tool": response_part.tool_name,
                        "arguments": response_part.args_as_dict(),
                    }
                    turns.append(ChatTurn("assistant", json.dumps(call, ensure_ascii=False)))
                elif isinstance(response_part, TextPart):
                    turns.append(ChatTurn("assistant", response_part.content))
                # thinking and provider-side parts from another model carry nothing for this one
    merged = _merge_same_role(turns)
    merged[0] = replace(merged[0], fixed=guide)
    return merged


def _request_turn(part: object) -> ChatTurn | None:
    if isinstance(part, SystemPromptPart):
        return ChatTurn("system", part.content)
    if isinstance(part, UserPromptPart):
        return ChatTurn("user", _user_text(part))
    if isinstance(part, BaseToolReturnPart):
        return ChatTurn("user", f"Result of {part.tool_name}: {part.model_response_str()}")
    if isinstance(part, RetryPromptPart | RetryFeedbackPart):
        return ChatTurn("user", part.model_response())
    return None  # bookkeeping parts (deltas, baselines) that are not conversation


def _user_text(part: UserPromptPart) -> str:
    if isinstance(part.content, str):
        return part.content
    pieces = []
    for item in part.content:
        if isinstance(item, str):
            pieces.append(item)
        elif hasattr(item, "content") and isinstance(item.content, str):
            pieces.append(item.content)
        else:
            pieces.append(f"[{type(item).__name__} omitted: the local model reads text only]")
    return "\n".join(pieces)


def _merge_same_role(turns: list[ChatTurn]) -> list[ChatTurn]:
    merged: list[ChatTurn] = []
    for turn in turns:
        if merged and merged[-1].role == turn.role:
            joined = "\n\n".join(text for text in (merged[-1].text, turn.text) if text)
            merged[-1] = replace(merged[-1], text=joined)
        else:
            merged.append(turn)
    return merged


def fit_to_context(turns: list[ChatTurn], budget: int, tokenizer: Tokenizer) -> list[ChatTurn]:
    """Cut the longest turns to one common length so that the whole prompt fits in `budget`.

    The head of each cut turn is kept, with a visible marker; the answer guide is never cut.
    """
    sizes = [tokenizer.count(turn.text) for turn in turns]
    fixed = sum(tokenizer.count(turn.fixed) + TURN_OVERHEAD_TOKENS for turn in turns)
    available = budget - fixed
    if sum(sizes) <= available:
        return turns
    marker = tokenizer.count(TRIMMED_MARKER)
    cap = _common_cap(sizes, max(available - marker * len(turns), 0))
    fitted = []
    for turn, size in zip(turns, sizes, strict=True):
        if size > cap:
            turn = replace(turn, text=tokenizer.head(turn.text, cap) + TRIMMED_MARKER)
        fitted.append(turn)
    return fitted


def _common_cap(sizes: list[int], available: int) -> int:
    """The largest cap with sum(min(size, cap)) <= available."""
    remaining, count = available, len(sizes)
    for size in sorted(sizes):
        if size * count > remaining:
            return remaining // count
        remaining -= size
        count -= 1
    return max(sizes, default=0)
