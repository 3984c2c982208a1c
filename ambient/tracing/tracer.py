"""The tracing API the rest of ambient calls: an item's trace, its steps, the human decision.

One trace per item; its id comes from the item (``ids.trace_id_for_item``) and its root
observation's span id from the trace id, so any process can add a step or a score to it.
With tracing to Langfuse off, every call still works and still writes the local trace log.

    with tracer.item_span(item, input=summary) as root:        # the worker, around one item
        with tracer.step(item, "agent run", as_type="agent"):
            result = await agent.run(prompt, capabilities=tracer.agent_capabilities())
        tracer.record_step(item, "action queued", input=args, output={"approval_id": 7})
        root.update(output={"state": "awaiting_approval"})
    tracer.record_step(item, "human decision", output={"decision": "approved"})   # the TUI
    tracer.score_decision(item.trace_id, "approved", approval_id=7)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from opentelemetry import context, trace

from ambient.clock import Clock
from ambient.tracing.trace_log import TraceLog
from ambient.tracing.context import (
    forced_ids,
    fresh_root_context,
    item_root_context,
    root_span_id_for_trace,
)
from ambient.tracing.ids import trace_id_for_item
from ambient.tracing.redaction import Redactor
from ambient.tracing.spool import Spool
from ambient.tracing.tables import SpoolKind

if TYPE_CHECKING:
    from langfuse import Langfuse
    from opentelemetry.sdk.trace import TracerProvider
    from pydantic_ai.capabilities import AbstractCapability

log = logging.getLogger(__name__)

ROOT_NAME = "item"
TRACE_NAME = "ambient item"
SCORE_NAME = "human_decision"
StepType = Literal["span", "agent", "tool", "chain", "retriever", "evaluator", "guardrail"]


class Decision(StrEnum):
    APPROVED = "approved"
    EDITED = "edited"
    FEEDBACK = "feedback"
    REJECTED = "rejected"
    IGNORED = "ignored"


_DECISION_VERBS = {
    "approve": Decision.APPROVED,
    "edit": Decision.EDITED,
    "reject": Decision.REJECTED,
    "ignore": Decision.IGNORED,
}


def decision_value(decision: str) -> Decision:
    """"approve"/"approved" -> Decision.APPROVED; anything else is a programming error."""
    word = str(decision).lower()
    return _DECISION_VERBS.get(word) or Decision(word)


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


def _ascii_id(value: str | None, prefix: str) -> str | None:
    """Langfuse wants US-ASCII ids of at most 200 characters; hash anything else."""
    if not value:
        return None
    if value.isascii() and len(value) <= 200:
        return value
    return f"{prefix}-{hashlib.sha256(value.encode()).hexdigest()[:32]}"


class Observation:
    """One step as its caller sees it: set the output, mark it failed. Safe with tracing off."""

    def __init__(self) -> None:
        self.span: Any = None  # the Langfuse observation, when tracing to Langfuse is on
        self.output: Any = None
        self.error: str | None = None

    def update(self, *, output: Any = None, metadata: dict[str, Any] | None = None) -> None:
        if output is not None:
            self.output = output
        if self.span is not None:
            self.span.update(output=output, metadata=metadata)

    def fail(self, message: str) -> None:
        self.error = message
        if self.span is not None:
            self.span.update(level="ERROR", status_message=message)


class ItemTracer:
    def __init__(
        self,
        *,
        trace_log: TraceLog,
        clock: Clock,
        redactor: Redactor,
        langfuse: Langfuse | None = None,
        provider: TracerProvider | None = None,
        spool: Spool | None = None,
        metadata: dict[str, str] | None = None,
        environment: str | None = None,
    ) -> None:
        self.trace_log = trace_log
        self.clock = clock
        self.redactor = redactor
        self.langfuse = langfuse
        self.provider = provider
        self.spool = spool
        self.metadata = dict(metadata or {})
        self.environment = environment

    @property
    def enabled(self) -> bool:
        """True when spans and scores go (through the spool) to Langfuse."""
        return self.langfuse is not None

    # ---- steps --------------------------------------------------------------------------
    @contextmanager
    def item_span(self, item: TracedItem | ItemRef, *, input: Any = None) -> Iterator[Observation]:
        """The item's root observation; steps and agent spans inside become its children."""
        with self._observe(ItemRef.of(item), ROOT_NAME, "span", input, None, root=True) as obs:
            yield obs

    @contextmanager
    def step(
        self,
        item: TracedItem | ItemRef,
        name: str,
        *,
        input: Any = None,
        as_type: StepType = "span",
        metadata: dict[str, Any] | None = None,
    ) -> Iterator[Observation]:
        """A child of the item's root, from any process; nested if already inside the item."""
        with self._observe(ItemRef.of(item), name, as_type, input, metadata, root=False) as obs:
            yield obs

    def record_step(
        self,
        item: TracedItem | ItemRef,
        name: str,
        *,
        input: Any = None,
        output: Any = None,
        error: str | None = None,
        as_type: StepType = "span",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """A step that already happened (action queued, decision, execution, memory change)."""
        with self.step(item, name, input=input, as_type=as_type, metadata=metadata) as obs:
            obs.update(output=output)
            if error:
                obs.fail(error)

    def finish_item(self, item: TracedItem | ItemRef, state: str, *, input: Any = None) -> None:
        """The item reached its final state: the root observation's output says so."""
        with self.item_span(item, input=input) as root:
            root.update(output={"state": state})

    @contextmanager
    def _observe(
        self,
        ref: ItemRef,
        name: str,
        as_type: StepType,
        input: Any,
        metadata: dict[str, Any] | None,
        *,
        root: bool,
    ) -> Iterator[Observation]:
        observation = Observation()
        started = time.monotonic()
        standalone = root or not _inside_trace(ref.trace_id)
        try:
            with ExitStack() as stack:
                if self.langfuse is not None:
                    observation.span = stack.enter_context(
                        self._langfuse_span(ref, name, as_type, input, metadata, root=root)
                    )
                try:
                    yield observation
                except BaseException as error:
                    observation.fail(f"{type(error).__name__}: {error}".rstrip(": "))
                    raise
        finally:
            self.trace_log.record(
                trace_id=ref.trace_id,
                item_id=ref.item_id,
                name=name,
                kind="item" if root else "step",
                status="error" if observation.error else "ok",
                duration_ms=int((time.monotonic() - started) * 1000),
                detail={"output": observation.output, "error": observation.error},
            )
            if standalone:
                self.flush()

    @contextmanager
    def _langfuse_span(
        self,
        ref: ItemRef,
        name: str,
        as_type: StepType,
        input: Any,
        metadata: dict[str, Any] | None,
        *,
        root: bool,
    ) -> Iterator[Any]:
        from langfuse import propagate_attributes

        assert self.langfuse is not None
        with ExitStack() as stack:
            if root:
                stack.enter_context(_attached(fresh_root_context()))
            elif not _inside_trace(ref.trace_id):
                stack.enter_context(_attached(item_root_context(ref.trace_id)))
            stack.enter_context(
                propagate_attributes(
                    user_id=_ascii_id(ref.source, "account"),
                    session_id=_ascii_id(ref.thread_key, "thread"),
                    tags=[ref.source, ref.kind],
                    metadata=self.metadata,
                    trace_name=TRACE_NAME,
                )
            )
            start = self.langfuse.start_as_current_observation
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

    # ---- scores, agent spans, flushing --------------------------------------------------
    def score_decision(
        self,
        trace_id: str,
        decision: str,
        comment: str | None = None,
        *,
        approval_id: int | str | None = None,
        item_id: int | None = None,
    ) -> str:
        """The human decision as a categorical score on the item's trace; returns the score id.

        Callable from any process: the score goes to the shared spool, the daemon sends it.
        The score id is derived from the approval, so recording a decision twice is harmless.
        """
        value = decision_value(decision)
        seed = f"ambient-decision:{trace_id}:{approval_id}" if approval_id is not None else None
        score_id = hashlib.sha256(seed.encode()).hexdigest()[:32] if seed else uuid.uuid4().hex
        body: dict[str, Any] = {
            "id": score_id,
            "traceId": trace_id,
            "name": SCORE_NAME,
            "value": value.value,
            "dataType": "CATEGORICAL",
            "comment": comment,
            "environment": self.environment,
            "timestamp": self.clock.now().isoformat(),
            "metadata": {"approval_id": approval_id} if approval_id is not None else None,
        }
        body = self.redactor.value({key: item for key, item in body.items() if item is not None})
        if self.spool is not None and self.enabled:
            self.spool.append(SpoolKind.SCORE, json.dumps(body).encode(), 1)
        self.trace_log.record(
            trace_id=trace_id,
            item_id=item_id,
            name=SCORE_NAME,
            kind="score",
            detail={"decision": value.value, "comment": comment, "approval_id": approval_id},
        )
        log.info("trace=%s decision=%s score=%s", trace_id, value.value, score_id)
        return score_id

    def agent_capabilities(self) -> list[AbstractCapability[Any]]:
        """Pydantic AI's own instrumentation (model and tool spans) into this item's trace.

        Pass to ``agent.run(..., capabilities=tracer.agent_capabilities())`` inside a step; with
        tracing off it is an empty list.
        """
        if self.provider is None:
            return []
        from pydantic_ai.capabilities.instrumentation import Instrumentation
        from pydantic_ai.models.instrumented import InstrumentationSettings

        settings = InstrumentationSettings(
            tracer_provider=self.provider, include_binary_content=False
        )
        return [Instrumentation(settings=settings)]

    def flush(self) -> None:
        """Move every finished span into the spool now (a few local writes, no network)."""
        if self.provider is not None:
            self.provider.force_flush()


def _inside_trace(trace_id: str) -> bool:
    current = trace.get_current_span().get_span_context()
    return current.is_valid and format(current.trace_id, "032x") == trace_id


@contextmanager
def _attached(ctx: context.Context) -> Iterator[None]:
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)
