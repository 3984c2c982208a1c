"""A paused run, as text: the message history and the deferred tool requests, in JSON.

The approvals queue stores this string with each drafted action, so any process can resume the
run later (the worker that drafted it may be long gone). Pydantic AI's own adapters do the work:
``ModelMessagesTypeAdapter`` for the history and ``TypeAdapter(DeferredToolRequests)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_ai import DeferredToolRequests
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ToolCallPart

FORMAT = "ambient.run_state/1"

_REQUESTS: TypeAdapter[DeferredToolRequests] = TypeAdapter(DeferredToolRequests)


class RunStateError(ValueError):
    """The stored run state cannot be read back (corrupt, or written by an unknown version)."""


@dataclass(frozen=True)
class RunState:
    messages: list[ModelMessage]
    requests: DeferredToolRequests

    def dumps(self) -> str:
        document: dict[str, Any] = {
            "format": FORMAT,
            "messages": json.loads(ModelMessagesTypeAdapter.dump_json(self.messages)),
            "requests": json.loads(_REQUESTS.dump_json(self.requests)),
        }
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def loads(cls, text: str) -> RunState:
        try:
            document = json.loads(text)
        except ValueError as error:
            raise RunStateError(f"run state is not JSON: {error}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            found = document.get("format") if isinstance(document, dict) else type(document)
            raise RunStateError(f"run state format {found!r} is not {FORMAT!r}")
        try:
            # Through JSON again, so binary content comes back from its base64 form.
            messages = ModelMessagesTypeAdapter.validate_json(json.dumps(document["messages"]))
            requests = _REQUESTS.validate_json(json.dumps(document["requests"]))
        except (KeyError, ValidationError) as error:
            raise RunStateError(f"run state does not validate: {error}") from None
        return cls(messages=list(messages), requests=requests)

    def approval_call(self, tool_call_id: str) -> ToolCallPart | None:
        return next(
            (call for call in self.requests.approvals if call.tool_call_id == tool_call_id), None
        )

    @property
    def tool_call_ids(self) -> list[str]:
        return [call.tool_call_id for call in self.requests.approvals]

    @property
    def question_ids(self) -> list[str]:
        """The calls that asked the user a question (answered as the call's result)."""
        return [
            call.tool_call_id
            for call in self.requests.calls
            if self.requests.kind(call.tool_call_id) == "question"
        ]
