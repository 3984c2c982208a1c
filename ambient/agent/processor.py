"""The item processor the worker calls: run the agent on an item, queue what it drafted.

A run that ends with a triage finishes the item (done). A run that drafts actions ends in
``DeferredToolRequests``: each deferred call becomes a row in the approvals queue, with the
serialized run state so that any process can resume the run after the human decides, and the
item waits for approval. Drafts the model could not get valid are dropped and noted in the
triage, so such an item ends like any other (see ``dropped``). What produced the run (its
lineage: model, prompt, memory commit, policy) goes with its drafts, its item and its trace step.

With an in-process model, the daemon can load it at start-up (:meth:`AgentProcessor.warm_up`)
and should run one item at a time (:attr:`AgentProcessor.max_concurrency`): runs take turns on
it anyway, and waiting items only hold their leases.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

from ambient.agent.deps import AgentItem
from ambient.agent.runner import TriageAgent
from ambient.agent.triage import provisional_triage
from ambient.approvals.drafts import ActionContext
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval
from ambient.core.errors import AmbientError
from ambient.core.items import ItemState
from ambient.core.ledger import ClaimedItem
from ambient.core.lineage import Lineage
from ambient.core.message import UnparseableMessage
from ambient.core.processing import ItemOutcome, PermanentItemError
from ambient.models.local.turns import in_process_models
from ambient.tracing.tracer import ItemTracer, Observation, TracedItem

log = logging.getLogger(__name__)


def agent_item(item: ClaimedItem) -> AgentItem:
    try:
        return AgentItem.from_raw(
            item.id, item.trace_id, item.raw, kind=item.kind, metadata=item.metadata
        )
    except UnparseableMessage as error:
        raise PermanentItemError(str(error)) from error


def action_context(
    item: AgentItem, memory_read: tuple[str, ...] = (), lineage: Lineage | None = None
) -> ActionContext:
    """What the queue needs to know about the item and the run (`memory_read`: the private
    memory text the run saw; `lineage`: what produced it) to check and bind its drafts."""
    message = item.message
    return ActionContext(
        item_id=item.item_id,
        thread_addresses=item.thread_addresses,
        item_version=item.item_version,
        sender_address=message.sender_address,
        reply_to=frozenset(address.lower() for address in message.reply_to),
        message_text=message.text,
        memory_read=memory_read,
        lineage=lineage,
    )


def traced(
    tracer: ItemTracer | None, item: TracedItem, name: str
) -> AbstractContextManager[Observation]:
    """A step of the item's trace (a no-op observation when tracing is not wired in)."""
    if tracer is None:
        return nullcontext(Observation())
    return tracer.step(item, name, input={"item_id": item.id, "kind": item.kind})


def draft_summary(rows: list[Approval]) -> list[dict[str, object]]:
    return [{"approval_id": row.id, "kind": row.kind, "status": row.status.value} for row in rows]


class AgentProcessor:
    """Implements ambient.daemon.worker.ItemProcessor with the triage agent."""

    def __init__(
        self, agent: TriageAgent, queue: ApprovalQueue, tracer: ItemTracer | None = None
    ) -> None:
        self.agent = agent
        self.queue = queue
        self.tracer = tracer

    @property
    def max_concurrency(self) -> int | None:
        """1 for an in-process model (runs take turns on it), else None (no limit of its own)."""
        return 1 if in_process_models(self.agent.model) else None

    async def warm_up(self) -> None:
        """Load an in-process model now, in a thread, so the first item does not wait for it.

        Nothing to do for hosted models. A model that cannot load is logged here and fails
        again, as the item's error, on the first item.
        """
        for model in in_process_models(self.agent.model):
            started = time.perf_counter()
            try:
                await asyncio.to_thread(model.load)
            except AmbientError as error:
                log.warning("offline model %s not loaded: %s", model.model_name, error)
                continue
            elapsed = time.perf_counter() - started
            log.info("offline model %s loaded in %.1fs", model.model_name, elapsed)

    async def process(self, item: ClaimedItem) -> ItemOutcome:
        with traced(self.tracer, item, "agent.triage") as step:
            outcome = await self._process(item)
            lineage = outcome.lineage.to_dict() if outcome.lineage is not None else None
            step.update(
                output={"state": outcome.state.value, "triage": outcome.triage, "lineage": lineage},
                metadata={"lineage": lineage},
            )
            return outcome

    async def _process(self, item: ClaimedItem) -> ItemOutcome:
        subject = agent_item(item)
        existing = await asyncio.to_thread(self.queue.list, item_id=item.id)
        if existing:
            # An earlier attempt queued its drafts and then lost its lease (a crash between
            # queueing and completing): never draft the same item twice.
            log.warning("item=%s already has %d draft(s); not run again", item.id, len(existing))
            earlier = provisional_triage(
                subject.message.subject, [row.rationale for row in existing]
            )
            lineage = Lineage.from_json(existing[0].lineage_json)
            return ItemOutcome(ItemState.AWAITING_APPROVAL, earlier.model_dump(), lineage)
        # the memory's commit as the run starts reading it
        lineage = await asyncio.to_thread(self.agent.lineage, self.queue.policy.version)
        outcome = await self.agent.triage(subject)
        lineage = replace(lineage, examples=outcome.examples)
        triage = outcome.triage.model_dump()
        if outcome.dropped:
            log.warning(
                "item=%s trace=%s dropped invalid draft(s): %s",
                item.id,
                item.trace_id,
                "; ".join(f"{draft.kind}: {draft.reason}" for draft in outcome.dropped),
            )
        if not outcome.drafts or outcome.run_state is None:
            log.info("item=%s trace=%s triage=%s", item.id, item.trace_id, outcome.triage.decision)
            return ItemOutcome(ItemState.DONE, triage, lineage)
        rows = await asyncio.to_thread(
            self.queue.queue_drafts,
            context=action_context(subject, outcome.memory_read, lineage),
            trace_id=item.trace_id,
            run_state=outcome.run_state.dumps(),
            drafts=outcome.drafts,
        )
        if self.tracer is not None:
            self.tracer.record_step(item, "agent.drafts", output=draft_summary(rows))
        log.info(
            "item=%s trace=%s triage=%s drafts=%s",
            item.id,
            item.trace_id,
            outcome.triage.decision,
            ",".join(f"{row.id}:{row.kind}:{row.status.value}" for row in rows),
        )
        return ItemOutcome(ItemState.AWAITING_APPROVAL, triage, lineage)
