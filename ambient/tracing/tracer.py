"""The tracing API the rest of ambient calls: an item's trace, its steps, the human decision.

One trace per item; its id comes from the item (``ids.trace_id_for_item``) and its root
observation's span id from the trace id, so any process can add a step or a score to it.
A decision is a step whose span carries it as attributes and an event (what an OTLP backend
without Langfuse's scores reads), and a Langfuse score. With tracing off, every call still
works and still writes the local trace log.

    with tracer.item_span(item, input=summary) as root:        # the worker, around one item
        with tracer.step(item, "agent run", as_type="agent"):
            result = await agent.run(prompt, capabilities=tracer.agent_capabilities())
        tracer.record_step(item, "action queued", input=args, output={"approval_id": 7})
        root.update(output={"state": "awaiting_approval"})
    tracer.record_decision(item_id, approval_id=7, decision="edited", comment=None)  # the TUI
    tracer.record_step(item_id, "execution", input={"approval_id": 7}, output=result)  # outbox
    tracer.finish_item(item_id, "done")

An item id (int) is looked up in the ledger; an Item row or a ClaimedItem is used as it is.
Tracing never stops the work: a span that cannot be made is logged and the step goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from sqlalchemy.exc import SQLAlchemyError

from ambient.core.clock import Clock
from ambient.core.db import read_session
from ambient.core.errors import NotFoundError
from ambient.core.items import ItemState
from ambient.core.tables import Item, ItemContent
from ambient.tracing.observations import StepType, inside_trace, langfuse_observation
from ambient.tracing.redaction import Redactor
from ambient.tracing.spool import Spool
from ambient.tracing.subjects import (
    DECISION_EVENT,
    ItemRef,
    Observation,
    TracedItem,
    decision_attributes,
    decision_value,
)
from ambient.tracing.summary import item_summary
from ambient.tracing.tables import SpoolKind
from ambient.tracing.trace_log import TraceLog

if TYPE_CHECKING:
    from langfuse import Langfuse
    from opentelemetry.sdk.trace import TracerProvider
    from pydantic_ai.capabilities import AbstractCapability

__all__ = [
    "ItemLike",
    "ItemRef",
    "ItemTracer",
    "Observation",
    "TracedItem",
    "decision_value",
]

log = logging.getLogger(__name__)

ROOT_NAME = "item"
SCORE_NAME = "human_decision"
ItemLike = TracedItem | ItemRef | int  # an int is an item id, looked up in the ledger
# inside ItemTracer.writes_at_end: finished spans go to the spool at its end, not at each root
_flush_at_end: ContextVar[bool] = ContextVar("tracer_flush_at_end", default=False)


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
        scores: bool = True,
    ) -> None:
        self.trace_log = trace_log
        self.clock = clock
        self.redactor = redactor
        self.langfuse = langfuse
        self.provider = provider
        self.spool = spool
        self.metadata = dict(metadata or {})
        self.environment = environment
        self.scores = scores  # decisions also go as Langfuse scores (other backends: the span)

    @property
    def enabled(self) -> bool:
        """True when spans go (through the spool) to Langfuse or any OTLP backend."""
        return self.langfuse is not None

    def resolve(self, item: ItemLike) -> ItemRef:
        """The item's reference; an item id is looked up in the ledger."""
        if not isinstance(item, int):
            return ItemRef.of(item)
        with read_session(self.trace_log.engine) as session:
            row = session.get(Item, item)
        if row is None:
            raise NotFoundError(f"item {item} does not exist")
        return ItemRef.of(row)

    def _lookup(self, item: ItemLike) -> ItemRef | None:
        """Like resolve, but a missing item is logged, not raised: tracing never stops work."""
        try:
            return self.resolve(item)
        except (NotFoundError, SQLAlchemyError) as error:
            log.error("tracing: %s; step not traced", error)
            return None

    # ---- steps --------------------------------------------------------------------------
    @contextmanager
    def item_span(self, item: ItemLike, *, input: Any = None) -> Iterator[Observation]:
        """The item's root observation; steps and agent spans inside become its children."""
        ref = self._lookup(item)
        if ref is None:
            yield Observation()
            return
        with self._observe(ref, ROOT_NAME, "span", input, None, root=True) as obs:
            yield obs

    @contextmanager
    def step(
        self,
        item: ItemLike,
        name: str,
        *,
        input: Any = None,
        as_type: StepType = "span",
        metadata: dict[str, Any] | None = None,
    ) -> Iterator[Observation]:
        """A child of the item's root, from any process; nested if already inside the item."""
        ref = self._lookup(item)
        if ref is None:
            yield Observation()
            return
        with self._observe(ref, name, as_type, input, metadata, root=False) as obs:
            yield obs

    def record_step(
        self,
        item: ItemLike,
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

    def record_decision(
        self,
        item: ItemLike,
        *,
        approval_id: int,
        decision: str,
        comment: str | None = None,
        details: dict[str, Any] | None = None,
        step: str = "human decision",
    ) -> str:
        """The decision: a step (`step`: "human decision", or the name of who else decided)
        and the score; returns the score id. A `decided_by` in `details` goes into the score's
        metadata too."""
        ref = self._lookup(item)
        if ref is None:
            return ""
        value = decision_value(decision)
        decided_by = (details or {}).get("decided_by")
        with self.step(ref, step, input={"approval_id": approval_id, **(details or {})}) as obs:
            obs.update(output={"decision": value, "comment": comment})
            obs.event(DECISION_EVENT, decision_attributes(value, approval_id, comment, details))
        return self.score_decision(
            ref.trace_id,
            value,
            comment,
            approval_id=approval_id,
            item_id=ref.item_id,
            decided_by=decided_by,
        )

    def finish_if_settled(self, item_id: int) -> None:
        """Record the item's final state on its root once its last approval is settled.

        The root goes again with its input too: a backend that keeps the last copy of a span
        (MLflow) would otherwise lose the item the trace is about."""
        try:
            with read_session(self.trace_log.engine) as session:
                row = session.get(Item, item_id)
                content = session.get(ItemContent, item_id)
        except SQLAlchemyError as error:
            log.error("tracing: item %s final state not traced: %s", item_id, error)
            return
        if row is not None and row.state in (ItemState.DONE, ItemState.QUARANTINED):
            raw = content.raw if content is not None else None
            summary = item_summary(
                source=row.source, key=row.key, kind=row.kind, raw=raw, item_id=row.id
            )
            self.finish_item(row, ItemState(row.state).value, input=summary)

    def finish_item(self, item: ItemLike, state: str, *, input: Any = None) -> None:
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
        standalone = root or not inside_trace(ref.trace_id)
        try:
            with ExitStack() as stack:
                if self.langfuse is not None:
                    try:
                        observation.span = stack.enter_context(
                            langfuse_observation(
                                self.langfuse,
                                ref,
                                name,
                                as_type=as_type,
                                input=input,
                                metadata=metadata,
                                trace_metadata=self.metadata,
                                root=root,
                            )
                        )
                        observation.otel_span = trace.get_current_span()  # the step's own
                    except Exception:  # noqa: BLE001 - tracing must never stop the work
                        log.exception("trace=%s step %r: span not created", ref.trace_id, name)
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
            if standalone and not _flush_at_end.get():
                self.flush()

    @asynccontextmanager
    async def writes_at_end(self) -> AsyncIterator[None]:
        """What the steps inside write — their trace log events, finished spans into the spool —
        is written at the end, together, in a thread: the event loop neither writes nor waits
        for the database's write lock once per step. The worker runs each item inside, so an
        item's record is written before the item completes."""
        with self.trace_log.collecting() as collected:
            token = _flush_at_end.set(True)
            try:
                yield
            finally:
                _flush_at_end.reset(token)

                def write() -> None:
                    collected.write(self.trace_log)
                    self.flush()

                await asyncio.to_thread(write)

    # ---- scores, agent spans, flushing --------------------------------------------------
    def score_decision(
        self,
        trace_id: str,
        decision: str,
        comment: str | None = None,
        *,
        approval_id: int | str | None = None,
        item_id: int | None = None,
        decided_by: str | None = None,
    ) -> str:
        """The decision as a categorical score on the item's trace; returns the score id.

        Callable from any process: the score goes to the shared spool, the daemon sends it.
        The score id is derived from the approval, so recording a decision twice is harmless.
        """
        value = decision_value(decision)
        metadata = {
            key: known
            for key, known in (("approval_id", approval_id), ("decided_by", decided_by))
            if known is not None
        }
        seed = f"ambient-decision:{trace_id}:{approval_id}" if approval_id is not None else None
        score_id = hashlib.sha256(seed.encode()).hexdigest()[:32] if seed else uuid.uuid4().hex
        body: dict[str, Any] = {
            "id": score_id,
            "traceId": trace_id,
            "name": SCORE_NAME,
            "value": value,
            "dataType": "CATEGORICAL",
            "comment": comment,
            "environment": self.environment,
            "timestamp": self.clock.now().isoformat(),
            "metadata": metadata or None,
        }
        body = self.redactor.value({key: item for key, item in body.items() if item is not None})
        if self.spool is not None and self.enabled and self.scores:
            try:
                self.spool.append(SpoolKind.SCORE, json.dumps(body).encode(), 1)
            except SQLAlchemyError as error:  # the decision itself stands; say what was lost
                log.error("trace=%s decision score not spooled: %s", trace_id, error)
        self.trace_log.record(
            trace_id=trace_id,
            item_id=item_id,
            name=SCORE_NAME,
            kind="score",
            detail={"decision": value, "comment": comment, "approval_id": approval_id, **metadata},
        )
        log.info("trace=%s decision=%s score=%s", trace_id, value, score_id)
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
