"""What a trace is about: the item (by reference), the human decision, and one step's handle."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from ambient.core.ids import trace_id_for_item

DECISIONS = frozenset(
    {"approved", "edited", "feedback", "rejected", "ignored", "delivered", "answered"}
)
"""The human decisions a trace records (the Langfuse score's categories), as plain words:
tracing sits below the approvals that define them."""
_DECISION_VERBS = {
    "approve": "approved",
    "edit": "edited",
    "reject": "rejected",
    "ignore": "ignored",
}


DECISION_EVENT = "ambient.decision"
"""The span event (and attribute prefix) a decision leaves on its step's span: any OTLP backend
reads who decided what there, in the item's trace."""


def decision_attributes(
    decision: str, approval_id: int, comment: str | None, details: dict[str, Any] | None
) -> dict[str, str | int]:
    """The decision as span attributes: value, approval, who decided, the action kind, comment."""
    extra = details or {}
    attributes: dict[str, str | int] = {
        f"{DECISION_EVENT}.value": decision,
        f"{DECISION_EVENT}.approval_id": approval_id,
    }
    for key, value in (
        ("decided_by", extra.get("decided_by")),
        ("action_kind", extra.get("kind")),
        ("comment", comment),
    ):
        if value is not None:
            attributes[f"{DECISION_EVENT}.{key}"] = str(value)
    return attributes


def decision_value(decision: str) -> str:
    """ "approve" or "approved" -> "approved"; a word that is no decision is a programming error."""
    word = str(decision).lower()
    value = _DECISION_VERBS.get(word, word)
    if value not in DECISIONS:
        raise ValueError(f"not a decision: {decision!r}")
    return value


class TracedItem(Protocol):
    """What tracing needs of an item: the ledger's Item row and ClaimedItem both fit."""

    @property
    def source(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def thread_key(self) -> str | None: ...
    @property
    def trace_id(self) -> str | None: ...
    @property
    def id(self) -> int | None: ...


@dataclass(frozen=True)
class ItemRef:
    trace_id: str
    source: str
    key: str
    kind: str = "email"
    thread_key: str | None = None
    item_id: int | None = None

    @classmethod
    def of(cls, item: TracedItem | ItemRef) -> ItemRef:
        if isinstance(item, ItemRef):
            return item
        trace_id = item.trace_id or trace_id_for_item(item.source, item.key)
        return cls(trace_id, item.source, item.key, item.kind, item.thread_key, item.id)


def ascii_id(value: str | None, prefix: str) -> str | None:
    """Langfuse wants US-ASCII ids of at most 200 characters; hash anything else."""
    if not value:
        return None
    if value.isascii() and len(value) <= 200:
        return value
    return f"{prefix}-{hashlib.sha256(value.encode()).hexdigest()[:32]}"


class Observation:
    """One step as its caller sees it: set the output, mark it failed. Safe with tracing off."""

    def __init__(self) -> None:
        self.span: Any = None  # the Langfuse observation, when tracing is on
        self.otel_span: Any = None  # its OpenTelemetry span
        self.output: Any = None
        self.error: str | None = None

    def update(self, *, output: Any = None, metadata: dict[str, Any] | None = None) -> None:
        if output is not None:
            self.output = output
        if self.span is not None:
            self.span.update(output=output, metadata=metadata)

    def event(self, name: str, attributes: dict[str, str | int]) -> None:
        """Put the attributes on the span, and an event with them (what any backend shows)."""
        if self.otel_span is not None:
            self.otel_span.set_attributes(attributes)
            self.otel_span.add_event(name, attributes)

    def fail(self, message: str) -> None:
        self.error = message
        if self.span is not None:
            self.span.update(level="ERROR", status_message=message)
