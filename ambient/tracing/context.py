"""OpenTelemetry context for an item's trace, reachable from any process without asking anyone.

The item's root observation has a span id derived from its trace id, so a step recorded later
in another process (the TUI's decision, the outbox's execution) names the root as its parent
without any lookup. The root itself is created with those exact ids through an id generator
that can be told, for one span, which ids to use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from opentelemetry import baggage, context, trace
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

# Langfuse's span processor marks a span as its trace's "app root" unless the context claims
# the trace for an existing root through this baggage entry (langfuse._client.propagation).
LANGFUSE_TRACE_ID_BAGGAGE = "langfuse_trace_id"


def root_span_id_for_trace(trace_id: str) -> str:
    """The span id (16 hex chars) of an item's root observation."""
    return hashlib.sha256(f"ambient-root:{trace_id}".encode()).digest()[:8].hex()


@dataclass
class _ForcedIds:
    trace_id: int
    span_id: int
    span_used: bool = False


_forced: ContextVar[_ForcedIds | None] = ContextVar("ambient_forced_span_ids", default=None)


class ItemIdGenerator(IdGenerator):
    """Random ids, except for the one span started inside :func:`forced_ids`."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        forced = _forced.get()
        if forced is not None and not forced.span_used:
            forced.span_used = True
            return forced.span_id
        return self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        forced = _forced.get()
        if forced is not None:
            return forced.trace_id
        return self._random.generate_trace_id()


@contextmanager
def forced_ids(trace_id: str, span_id: str) -> Iterator[None]:
    """The next span started here gets this span id (and, having no parent, this trace id)."""
    token = _forced.set(_ForcedIds(int(trace_id, 16), int(span_id, 16)))
    try:
        yield
    finally:
        _forced.reset(token)


def fresh_root_context() -> context.Context:
    """A context with no current span: what a root observation starts from."""
    return trace.set_span_in_context(trace.INVALID_SPAN, context.Context())


def item_root_context(trace_id: str) -> context.Context:
    """A context whose current span is the item's root, so new spans become its children."""
    parent = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=int(trace_id, 16),
            span_id=int(root_span_id_for_trace(trace_id), 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
    )
    ctx = trace.set_span_in_context(parent, context.Context())
    return baggage.set_baggage(LANGFUSE_TRACE_ID_BAGGAGE, trace_id, context=ctx)
