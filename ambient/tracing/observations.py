"""Opening one Langfuse observation in the right place of an item's trace.

A root starts from an empty context with the item's exact ids; a step inside the item nests
under the current span; a step from elsewhere (another process, later) hangs under the item's
root by id. Every observation carries the trace-level attributes Langfuse filters by.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import context, trace

from ambient.tracing.context import (
    forced_ids,
    fresh_root_context,
    item_root_context,
    root_span_id_for_trace,
)
from ambient.tracing.subjects import ItemRef, ascii_id

if TYPE_CHECKING:
    from langfuse import Langfuse

TRACE_NAME = "ambient item"
StepType = Literal["span", "agent", "tool", "chain", "retriever", "evaluator", "guardrail"]


def inside_trace(trace_id: str) -> bool:
    """Whether the current span belongs to this trace (a step then nests under it)."""
    current = trace.get_current_span().get_span_context()
    return current.is_valid and format(current.trace_id, "032x") == trace_id


@contextmanager
def attached(ctx: context.Context) -> Iterator[None]:
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def langfuse_observation(
    langfuse: Langfuse,
    ref: ItemRef,
    name: str,
    *,
    as_type: StepType,
    input: Any,
    metadata: dict[str, Any] | None,
    trace_metadata: dict[str, str],
    root: bool,
) -> Iterator[Any]:
    """The Langfuse observation (span) for one step, current while the block runs."""
    from langfuse import propagate_attributes

    with ExitStack() as stack:
        if root:
            stack.enter_context(attached(fresh_root_context()))
        elif not inside_trace(ref.trace_id):
            stack.enter_context(attached(item_root_context(ref.trace_id)))
        stack.enter_context(
            propagate_attributes(
                user_id=ascii_id(ref.source, "account"),
                session_id=ascii_id(ref.thread_key, "thread"),
                tags=[ref.source, ref.kind],
                metadata=trace_metadata,
                trace_name=TRACE_NAME,
            )
        )
        start = langfuse.start_as_current_observation
        if root:
            with forced_ids(ref.trace_id, root_span_id_for_trace(ref.trace_id)):
                span = stack.enter_context(
                    start(name=name, as_type=as_type, input=input, metadata=metadata)
                )
        else:
            span = stack.enter_context(
                start(name=name, as_type=as_type, input=input, metadata=metadata)
            )
        yield span
