"""The feedback loop: resume a paused run with the human's feedback and queue the new drafts.

When the human answers a draft with feedback, the approvals queue keeps the row in status
"feedback" until the agent revised it. :meth:`FeedbackReviser.tick` (a daemon job) resumes the
stored run with Pydantic AI's deferred-tool results: the feedback as ``ToolDenied(message)`` for
that call, ``ToolApproved`` for sibling calls of the same run the human approved (tool bodies
have no side effects, so nothing runs twice), and a denial saying "decided separately" for the
others (see ``feedback``). An answer to the agent's question (ask_user) goes the same way,
as the question call's result. Whatever the model drafts next is queued with ``parent_id`` =
the feedback (or question) row.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ambient.agent.deps import AgentItem
from ambient.agent.feedback import revision_results
from ambient.agent.processor import action_context, traced
from ambient.agent.runner import RunOutcome, TriageAgent
from ambient.agent.state import RunState, RunStateError
from ambient.approvals.drafts import DraftedAction
from ambient.approvals.kinds import KINDS
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval
from ambient.core.clock import Clock
from ambient.core.config import WorkerSettings
from ambient.core.errors import DecisionError, NotFoundError
from ambient.core.ledger import Ledger
from ambient.core.lineage import Lineage
from ambient.core.message import UnparseableMessage
from ambient.core.processing import PermanentItemError, describe_error
from ambient.core.tables import Item
from ambient.tracing.tracer import ItemTracer

log = logging.getLogger(__name__)

BATCH = 10


def assign_parents(
    drafts: Sequence[DraftedAction], feedback: Sequence[Approval]
) -> dict[int, list[DraftedAction]]:
    """Which feedback row each new draft revises: the one of the same kind, else the first."""
    assigned: dict[int, list[DraftedAction]] = {}
    for draft in drafts:
        parent = next((row for row in feedback if row.kind == draft.kind), feedback[0])
        assert parent.id is not None
        assigned.setdefault(parent.id, []).append(draft)
    return assigned


@dataclass
class _Backoff:
    failures: int
    retry_at: datetime


class FeedbackReviser:
    """The daemon job that turns feedback into revised drafts."""

    def __init__(
        self,
        agent: TriageAgent,
        queue: ApprovalQueue,
        ledger: Ledger,
        clock: Clock,
        settings: WorkerSettings,
        tracer: ItemTracer | None = None,
    ) -> None:
        self.agent = agent
        self.queue = queue
        self.ledger = ledger
        self.clock = clock
        self.settings = settings
        self.tracer = tracer
        self._backoff: dict[tuple[int, ...], _Backoff] = {}

    async def tick(self) -> int:
        """Revise every feedback row waiting (in groups per paused run); returns rows revised."""
        waiting = await asyncio.to_thread(self.queue.awaiting_revision, BATCH * 4)
        # memory_update proposals have no run to resume: the memory Reflector revises them
        drafted = KINDS.drafted_by_agent()
        rows = [row for row in waiting if row.kind in drafted][:BATCH]
        groups: dict[tuple[int, str | None], list[Approval]] = {}
        for row in rows:
            groups.setdefault((row.item_id, row.run_state), []).append(row)
        revised = 0
        for group in groups.values():
            key = tuple(row.id for row in group if row.id is not None)
            backoff = self._backoff.get(key)
            if backoff is not None and backoff.retry_at > self.clock.now():
                continue
            try:
                await self.revise(group)
            except DecisionError as error:  # another process revised it first
                log.info("approvals=%s already revised: %s", list(key), error)
            except (RunStateError, NotFoundError, UnparseableMessage, PermanentItemError) as error:
                await asyncio.to_thread(self._give_up, group, describe_error(error))
            except Exception as error:  # noqa: BLE001 - the error belongs to these rows
                await asyncio.to_thread(self._failed, key, group, error)
                continue
            self._backoff.pop(key, None)
            revised += len(group)
        return revised

    async def revise(self, feedback: list[Approval]) -> list[int]:
        """Resume the run the feedback rows came from; returns the ids of the new drafts."""
        first = feedback[0]
        if first.run_state is None:
            raise RunStateError(f"approval {first.id} has no run state to resume")
        state = RunState.loads(first.run_state)
        row, item = await asyncio.to_thread(self._item, first.item_id)
        siblings = await asyncio.to_thread(self.queue.list, item_id=first.item_id, limit=1000)
        siblings = [sibling for sibling in siblings if sibling.run_state == first.run_state]
        results = revision_results(state, feedback, siblings)
        with traced(self.tracer, row, "agent.revise") as step:
            lineage = await asyncio.to_thread(self.agent.lineage, self.queue.policy.version)
            outcome = await self.agent.resume(item, state, results)
            # the resumed run still has the examples the first run was shown
            shown = Lineage.from_json(first.lineage_json)
            examples = outcome.examples or (shown.examples if shown is not None else ())
            lineage = replace(lineage, examples=examples)
            new_ids = await asyncio.to_thread(
                self._queue_revision, item, feedback, outcome, lineage
            )
            revised = {"revised": [r.id for r in feedback], "new_drafts": new_ids}
            recorded = lineage.to_dict()
            step.update(output={**revised, "lineage": recorded}, metadata={"lineage": recorded})
        log.info(
            "item=%s trace=%s revised approvals=%s -> new=%s",
            item.item_id,
            item.trace_id,
            [r.id for r in feedback],
            new_ids,
        )
        return new_ids

    def _item(self, item_id: int) -> tuple[Item, AgentItem]:
        row = self.ledger.get(item_id)
        raw = self.ledger.content(item_id)
        metadata = json.loads(row.metadata_json or "{}")
        item = AgentItem.from_raw(
            item_id, row.trace_id or "", raw, kind=row.kind, metadata=metadata
        )
        return row, item

    def _queue_revision(
        self, item: AgentItem, feedback: list[Approval], outcome: RunOutcome, lineage: Lineage
    ) -> list[int]:
        new_ids: list[int] = []
        state = outcome.run_state.dumps() if outcome.run_state is not None else None
        for parent_id, drafts in assign_parents(outcome.drafts, feedback).items():
            rows = self.queue.queue_drafts(
                context=action_context(item, outcome.memory_read, lineage),
                trace_id=item.trace_id,
                run_state=state,
                drafts=drafts,
                parent_id=parent_id,
            )
            new_ids.extend(row.id for row in rows if row.id is not None)
        for row in feedback:
            if row.id is not None:
                self.queue.mark_revised(row.id, new_ids)  # no-op for parents already revised
        return new_ids

    def _failed(self, key: tuple[int, ...], group: list[Approval], error: Exception) -> None:
        previous = self._backoff.get(key)
        failures = (previous.failures if previous else 0) + 1
        if failures >= self.settings.max_attempts:
            self._backoff.pop(key, None)
            self._give_up(group, f"{failures} attempts failed; last: {describe_error(error)}")
            return
        delay = min(
            self.settings.backoff_seconds * 2 ** (failures - 1), self.settings.backoff_max_seconds
        )
        self._backoff[key] = _Backoff(failures, self.clock.now() + timedelta(seconds=delay))
        log.warning(
            "approvals=%s revision failed (attempt %d, retry in %.0fs): %s",
            list(key),
            failures,
            delay,
            describe_error(error),
        )

    def _give_up(self, group: list[Approval], reason: str) -> None:
        ids = [row.id for row in group if row.id is not None]
        log.error("approvals=%s cannot be revised, closed without a new draft: %s", ids, reason)
        for approval_id in ids:
            self.queue.mark_revised(approval_id, [])
