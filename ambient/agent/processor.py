"""The item processor the worker calls: run the agent on an item, queue what it drafted.

A run that ends with a triage finishes the item (done). A run that drafts actions ends in
``DeferredToolRequests``: each deferred call becomes a row in the approvals queue, with the
serialized run state so that any process can resume the run after the human decides, and the
item waits for approval. Drafts the model could not get valid are dropped and noted in the
triage, so such an item ends like any other (see ``dropped``). What produced the run (its
lineage: model, prompt, memory commit, policy) goes with its drafts, its item and its trace step.

Before any model call, the pre-rules (``prerules``) may decide the item: then no model is
called, the triage names the rule (or the rule's drafted action is queued through the same
gate), the lineage's ``pre_rule`` is the rule and its ``model`` is ``none``. An item whose
ignore the human overturned (``ClaimedItem.overturn``, see ``core.review``) skips the pre-rules:
the model runs on it, told that the user wants it acted on (``prompt.overturn_text``).

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
from ambient.agent.prerules import FiredRule, PreRules
from ambient.agent.runner import TriageAgent
from ambient.agent.triage import provisional_triage
from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.kinds import KINDS
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval
from ambient.core.errors import AmbientError, DecisionError
from ambient.core.items import ItemState
from ambient.core.ledger import ClaimedItem
from ambient.core.lineage import NO_MODEL, Lineage
from ambient.core.message import UnparseableMessage
from ambient.core.processing import ItemOutcome, PermanentItemError
from ambient.models.local.turns import in_process_models
from ambient.tracing.tracer import ItemTracer, Observation, TracedItem

log = logging.getLogger(__name__)


def agent_item(item: ClaimedItem) -> AgentItem:
    try:
        return AgentItem.from_raw(
            item.id,
            item.trace_id,
            item.raw,
            kind=item.kind,
            metadata=item.metadata,
            overturn=item.overturn,
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
        self,
        agent: TriageAgent,
        queue: ApprovalQueue,
        tracer: ItemTracer | None = None,
        rules: PreRules | None = None,  # None: no pre-rules, the model decides every item
    ) -> None:
        self.agent = agent
        self.queue = queue
        self.tracer = tracer
        self.rules = rules

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
            outcome, fired = await self._process(item)
            lineage = outcome.lineage.to_dict() if outcome.lineage is not None else None
            rule = fired.as_json() if fired is not None else None
            step.update(
                output={
                    "state": outcome.state.value,
                    "triage": outcome.triage,
                    "lineage": lineage,
                    "pre_rule": rule,
                },
                metadata={"lineage": lineage, "pre_rule": rule},
            )
            return outcome

    async def _process(self, item: ClaimedItem) -> tuple[ItemOutcome, FiredRule | None]:
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
            return ItemOutcome(ItemState.AWAITING_APPROVAL, earlier.model_dump(), lineage), None
        fired = None
        if self.rules is not None and item.overturn is None:  # an overturn: the user decided
            fired = self.rules.first_match(subject, item.raw)
        if fired is not None and fired.decides:
            return await self._decided_by_rule(item, subject, fired), fired
        return await self._run_agent(item, subject, fired), fired

    async def _run_agent(
        self, item: ClaimedItem, subject: AgentItem, fired: FiredRule | None
    ) -> ItemOutcome:
        """The model decides (`fired`: an "act" rule that sent the item here, its priority)."""
        # the memory's commit as the run starts reading it
        lineage = await asyncio.to_thread(self.agent.lineage, self.queue.policy.version)
        outcome = await self.agent.triage(subject)
        lineage = replace(lineage, examples=outcome.examples)
        triage = outcome.triage.model_dump()
        if fired is not None and fired.priority is not None:
            triage["priority"] = fired.priority
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
        context = action_context(subject, outcome.memory_read, lineage)
        by = f"triage={outcome.triage.decision}"
        await self._queued(item, context, outcome.run_state.dumps(), outcome.drafts, by)
        return ItemOutcome(ItemState.AWAITING_APPROVAL, triage, lineage)

    async def _queued(
        self,
        item: ClaimedItem,
        context: ActionContext,
        run_state: str | None,
        drafts: list[DraftedAction],
        by: str,
    ) -> None:
        """Queue the drafts (through the policy gate), as a trace step and a log line."""
        rows = await asyncio.to_thread(
            self.queue.queue_drafts,
            context=context,
            trace_id=item.trace_id,
            run_state=run_state,
            drafts=drafts,
        )
        if self.tracer is not None:
            self.tracer.record_step(item, "agent.drafts", output=draft_summary(rows))
        log.info(
            "item=%s trace=%s %s drafts=%s",
            item.id,
            item.trace_id,
            by,
            ",".join(f"{row.id}:{row.kind}:{row.status.value}" for row in rows),
        )

    async def _decided_by_rule(
        self, item: ClaimedItem, subject: AgentItem, fired: FiredRule
    ) -> ItemOutcome:
        """No model call: the rule's triage, or its drafted action queued through the gate."""
        lineage = await asyncio.to_thread(self.agent.lineage, self.queue.policy.version)
        lineage = replace(lineage, model=NO_MODEL, pre_rule=fired.name)
        title = subject.message.subject
        if fired.action is None:
            log.info(
                "item=%s trace=%s triage=%s by pre-rule %s",
                item.id,
                item.trace_id,
                fired.decision,
                fired.name,
            )
            return ItemOutcome(ItemState.DONE, fired.triage(title).model_dump(), lineage)
        try:
            draft = fired.draft(subject)
        except DecisionError as error:
            log.warning("item=%s pre-rule %s: action not drafted: %s", item.id, fired.name, error)
            note = f"its {fired.action.kind} action could not be drafted: {error}"
            return ItemOutcome(ItemState.DONE, fired.triage(title, note).model_dump(), lineage)
        # no run to resume (run_state None): feedback on it cannot be revised by the agent
        context = action_context(subject, (), lineage)
        await self._queued(item, context, None, [draft], f"pre-rule={fired.name}")
        held = KINDS.of(draft.kind).holds_item  # else nothing would ever settle the item
        state = ItemState.AWAITING_APPROVAL if held else ItemState.DONE
        return ItemOutcome(state, fired.triage(title).model_dump(), lineage)
