"""The Reflector: a daemon job that turns human corrections into small memory changes.

Each tick it takes (1) approvals decided with edit, feedback or reject that memory has not
learned from, (2) feedback on its own memory_update proposals, (3) approved changes that no
longer applied because the user edited the file meanwhile, and (4) ignore decisions the human
overturned (``core.review``; one a pre-rule made is the rule's to change, not memory's: it is
logged and settled without a model). For each it runs the reflection
agent; a proposed diff becomes a ``memory_update`` approval (or, with ``memory.auto_apply``, a
commit right away) unless the file or an open proposal already makes that change (see
proposals.py: such a proposal is dropped, and the log says which one covers it). A failure
belongs to that one row: it is logged with its ids and retried on the next tick, up to
:data:`MAX_ATTEMPTS`, and the job goes on.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic_ai.models import Model
from pydantic_ai.usage import UsageLimits
from sqlalchemy import Engine
from sqlmodel import col, select

from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.kinds import ActionKind
from ambient.approvals.kinds.memory_update import MemoryUpdate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus, ReflectionStatus
from ambient.core.clock import Clock
from ambient.core.config import Settings
from ambient.core.db import read_session
from ambient.core.diffs import ChangeLimits, already_applied, sha256_text
from ambient.core.errors import AmbientError
from ambient.core.processing import describe_error
from ambient.core.review import ItemReview, Overturn
from ambient.core.tables import Item
from ambient.memory.audit import MemoryAudit
from ambient.memory.causes import cause_id, commit_subject, describe_cause, overturn_cause
from ambient.memory.changes import MemoryChanges
from ambient.memory.prompts import (
    decision_prompt,
    overturn_prompt,
    reproposal_prompt,
    revision_prompt,
)
from ambient.memory.proposals import Comparison, close_applied, compare
from ambient.memory.reflection_agent import (
    MemoryChangeProposal,
    ReflectionDeps,
    ReflectionOutput,
    build_reflection_agent,
)
from ambient.memory.reproposals import ReproposalQueue
from ambient.memory.store import MemoryStore
from ambient.memory.tables import MemoryReproposal
from ambient.models.local.turns import model_turn
from ambient.tracing.steps import StepRecorder

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
ACTOR = "reflector"  # who the audit entries of auto-applied changes name


class Reflector:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        settings: Settings,
        queue: ApprovalQueue,
        store: MemoryStore,
        model: Model | str,
        changes: MemoryChanges | None = None,
        reproposals: ReproposalQueue | None = None,
        batch: int = 5,
        steps: StepRecorder | None = None,
    ) -> None:
        self.steps = steps  # the item's trace (ambient.tracing): reflections and memory changes
        self.engine = engine
        self.settings = settings
        self.queue = queue
        self.store = store
        self.changes = changes or MemoryChanges(
            store.folder, audit=MemoryAudit(engine, clock, ACTOR)
        )
        self.reproposals = reproposals or ReproposalQueue(engine, clock)
        self.reviews = ItemReview(engine, clock)
        self.agent = build_reflection_agent(model)
        self.limits = ChangeLimits(max_changed_lines=settings.memory.max_changed_lines)
        self.batch = batch
        self.clock = clock
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, datetime] = {}

    # ---- the job ------------------------------------------------------------------------
    async def tick(self) -> int:
        """One round of learning; returns how many rows it finished.

        The daemon builds the reflector when one of these four queries finds a row (see
        ``Runtime._reflection_waiting``): a new kind of work here is asked there too."""
        finished = 0
        window = self.batch * 4  # rows waiting for a retry don't hold up the others
        reflections = await asyncio.to_thread(self.queue.pending_reflections, window)
        for approval in self._due(reflections, "reflection"):
            finished += await self._guarded(f"reflection of approval {approval.id}", approval)
        revisions = await asyncio.to_thread(self.queue.awaiting_revision, window)
        mine = [row for row in revisions if row.kind == ActionKind.MEMORY_UPDATE]
        for approval in self._due(mine, "revision"):
            finished += await self._guarded(f"revision of approval {approval.id}", approval)
        for row in await asyncio.to_thread(self.reproposals.pending, window):
            if self._is_due(f"re-proposal of approval {row.approval_id}"):
                finished += await self._guarded_reproposal(row)
        overturned = await asyncio.to_thread(self.reviews.pending_reflections, window)
        due = [row for row in overturned if self._is_due(f"overturn of item {row.id}")]
        for item in due[: self.batch]:
            finished += await self._guarded_overturn(item)
        return finished

    def _due(self, rows: list[Approval], what: str) -> list[Approval]:
        due = [row for row in rows if self._is_due(f"{what} of approval {row.id}")]
        return due[: self.batch]

    def _is_due(self, what: str) -> bool:
        retry_at = self._retry_at.get(what)
        return retry_at is None or retry_at <= self.clock.now()

    def _record_failure(self, what: str, item_id: int, trace_id: str, error: Exception) -> bool:
        """Log a row's failure with its ids and schedule its retry; True when giving up."""
        attempts = self._failures.get(what, 0) + 1
        self._failures[what] = attempts
        give_up = attempts >= MAX_ATTEMPTS
        log.error(
            "memory: %s failed (item=%s trace=%s attempt %d/%d%s): %s",
            what, item_id, trace_id, attempts, MAX_ATTEMPTS,
            ", giving up" if give_up else "", describe_error(error),
        )  # fmt: skip
        delay = self.settings.memory.reflect_interval_seconds * 2 ** (attempts - 1)
        self._retry_at[what] = self.clock.now() + timedelta(seconds=delay)
        if give_up:
            self._failures.pop(what, None)
            self._retry_at.pop(what, None)
        return give_up

    async def _guarded(self, what: str, approval: Approval) -> int:
        unit = self._revise if what.startswith("revision") else self._reflect
        try:
            await unit(approval)
        except Exception as error:  # noqa: BLE001 - one row's failure; the job goes on
            await self._trace(approval.item_id, "memory reflection", {"what": what}, str(error))
            if self._record_failure(what, approval.item_id, approval.trace_id, error):
                await self._give_up(approval)
            return 0
        await self._trace(approval.item_id, "memory reflection", {"what": what}, None)
        self._failures.pop(what, None)
        self._retry_at.pop(what, None)
        return 1

    async def _give_up(self, approval: Approval) -> None:
        assert approval.id is not None
        if approval.status == ApprovalStatus.FEEDBACK and approval.revised_at is None:
            if approval.kind == ActionKind.MEMORY_UPDATE:
                await asyncio.to_thread(self.queue.mark_revised, approval.id, [])
        if approval.reflection_status == ReflectionStatus.PENDING:
            await asyncio.to_thread(self.queue.mark_reflected, approval.id)

    async def _guarded_reproposal(self, row: MemoryReproposal) -> int:
        assert row.id is not None
        what = f"re-proposal of approval {row.approval_id}"
        try:
            await self._repropose(row)
        except Exception as error:  # noqa: BLE001 - one row's failure; the job goes on
            give_up = self._record_failure(what, row.item_id, row.trace_id, error)
            await asyncio.to_thread(
                self.reproposals.record_failure, row.id, describe_error(error), give_up=give_up
            )
            return 0
        self._failures.pop(what, None)
        self._retry_at.pop(what, None)
        return 1

    async def _guarded_overturn(self, item: Item) -> int:
        assert item.id is not None
        what = f"overturn of item {item.id}"
        try:
            await self._learn_overturn(item)
        except Exception as error:  # noqa: BLE001 - one row's failure; the job goes on
            await self._trace(item.id, "memory reflection", {"what": what}, str(error))
            if self._record_failure(what, item.id, item.trace_id or "", error):
                await asyncio.to_thread(self.reviews.mark_reflected, item.id)
            return 0
        await self._trace(item.id, "memory reflection", {"what": what}, None)
        self._failures.pop(what, None)
        self._retry_at.pop(what, None)
        return 1

    # ---- the kinds of work ----------------------------------------------------------------
    async def _reflect(self, approval: Approval) -> None:
        """Learn from a human's edit, feedback or rejection of a draft."""
        assert approval.id is not None
        if approval.kind == ActionKind.MEMORY_UPDATE:
            # A correction of a memory proposal is handled as its revision (feedback) or is
            # final (reject/edit): learning from it again would propose memory about memory.
            await asyncio.to_thread(self.queue.mark_reflected, approval.id)
            return
        cause = cause_id(approval.id)
        if await asyncio.to_thread(self._already_proposed, cause, 0):
            log.info("memory: approval=%s was already reflected on", approval.id)
        else:
            prompt = await asyncio.to_thread(
                decision_prompt, self.engine, approval, self.store, self.settings
            )
            output, deps = await self._run(prompt)
            await self._deliver(
                output, deps, approval.item_id, approval.trace_id, cause, None, key=cause
            )
        await asyncio.to_thread(self.queue.mark_reflected, approval.id)

    async def _learn_overturn(self, item: Item) -> None:
        """Learn from an ignore the human overturned, so such mail is not ignored again."""
        assert item.id is not None
        overturn = Overturn.from_json(item.overturn_json)
        cause = overturn_cause(item.id)
        if overturn is None:
            log.warning("memory: item=%s is overturned without its record; skipped", item.id)
        elif overturn.pre_rule:
            log.info(
                "memory: item=%s was ignored by the pre-rule %r: memory cannot change a rule; "
                "edit it in ambient.toml to stop it ignoring such mail",
                item.id, overturn.pre_rule,
            )  # fmt: skip
        elif await asyncio.to_thread(self._already_proposed, cause, 0):
            log.info("memory: item=%s's overturn was already reflected on", item.id)
        else:
            prompt = await asyncio.to_thread(
                overturn_prompt, self.engine, item.id, overturn, self.store, self.settings
            )
            output, deps = await self._run(prompt)
            await self._deliver(output, deps, item.id, item.trace_id or "", cause, None, key=cause)
        await asyncio.to_thread(self.reviews.mark_reflected, item.id)

    async def _revise(self, approval: Approval) -> None:
        """The human sent a memory proposal back with feedback: propose it again, changed."""
        assert approval.id is not None
        prompt = revision_prompt(approval, self.store)
        output, deps = await self._run(prompt)
        new_id = await self._deliver(
            output,
            deps,
            approval.item_id,
            approval.trace_id,
            approval.tool_call_id,
            approval.id,
            key=f"revision-{approval.id}",
        )
        if new_id is None:  # nothing to propose: the feedback row is settled without a draft
            await asyncio.to_thread(self.queue.mark_revised, approval.id, [])

    async def _repropose(self, row: MemoryReproposal) -> None:
        """An approved change met a user's edit: propose it against the text as it is now."""
        assert row.id is not None
        if await asyncio.to_thread(self._already_proposed, row.cause, row.approval_id):
            await asyncio.to_thread(self.reproposals.finish, row.id, None)
            return
        if await asyncio.to_thread(self._in_file, row.file, row.diff):
            log.info(
                "memory: approval=%s's change is already in %s; nothing to propose again",
                row.approval_id, row.file,
            )  # fmt: skip
            await asyncio.to_thread(self.reproposals.finish, row.id, None)
            return
        output, deps = await self._run(reproposal_prompt(row, self.store))
        new_id = await self._deliver(
            output, deps, row.item_id, row.trace_id, row.cause, None, key=f"reproposal-{row.id}"
        )
        await asyncio.to_thread(self.reproposals.finish, row.id, new_id)

    # ---- running the agent and delivering its proposal ---------------------------------
    async def _run(self, prompt: str) -> tuple[ReflectionOutput, ReflectionDeps]:
        deps = ReflectionDeps(store=self.store, limits=self.limits)
        async with model_turn(self.agent.model):  # an in-process model runs one thing at a time
            result = await self.agent.run(
                prompt,
                deps=deps,
                usage_limits=UsageLimits(request_limit=self.settings.agent.request_limit),
            )
        return result.output, deps

    async def _deliver(
        self,
        output: ReflectionOutput,
        deps: ReflectionDeps,
        item_id: int,
        trace_id: str,
        cause: str,
        parent_id: int | None,
        key: str,
    ) -> int | None:
        """Queue (or auto-apply) a proposal; returns the new approval's id, if one was queued."""
        if not isinstance(output, MemoryChangeProposal):
            log.info("memory: nothing to learn (item=%s %s): %s", item_id, cause, output.reason)
            return None
        base_sha256, checked = deps.checked[output.file]
        update = MemoryUpdate(
            file=output.file, diff=checked.diff, base_sha256=base_sha256, reason=output.reason
        )
        comparison = await asyncio.to_thread(self._compare, update)
        if comparison.covers:
            log.info(
                "memory: dropped a proposal for %s (item=%s trace=%s %s): %s already makes "
                "that change",
                output.file, item_id, trace_id, cause, comparison.covers,
            )  # fmt: skip
            return None
        cause_text = await asyncio.to_thread(describe_cause, self.engine, cause)
        if self.settings.memory.auto_apply:
            await self._auto_apply(update, f"auto-{key}", item_id, trace_id, cause_text)
            return None
        rationale = f"Learned from {cause_text or 'a decision'}: {output.reason}"
        if comparison.overlapping:
            ids = ", ".join(str(row.id) for row in comparison.overlapping)
            rationale += (
                f" (It changes the same lines as approval {ids}, still open: approve the one "
                "you want; the other then no longer applies and is proposed again if approved.)"
            )
        draft = DraftedAction(
            kind=ActionKind.MEMORY_UPDATE,
            tool_call_id=cause,
            args=update.model_dump(),
            rationale=rationale,
        )
        context = ActionContext(
            item_id=item_id,
            thread_addresses=frozenset(),
            item_version=f"memory:{output.file}@{base_sha256[:12]}",
        )
        rows = await asyncio.to_thread(
            lambda: self.queue.queue_drafts(
                context=context,
                trace_id=trace_id,
                run_state=None,
                drafts=[draft],
                parent_id=parent_id,
            )
        )
        log.info(
            "memory: proposed a change to %s as approval=%s (item=%s trace=%s, %s)",
            output.file,
            rows[0].id,
            item_id,
            trace_id,
            cause_text,
        )
        return rows[0].id

    async def _auto_apply(
        self, update: MemoryUpdate, key: str, item_id: int, trace_id: str, cause_text: str | None
    ) -> None:
        """Commit the change now. A ChangeConflict (the user edited those lines in the moments
        since the proposal) propagates, so the next tick reflects again on the new text."""
        applied = await asyncio.to_thread(
            lambda: self.changes.apply(
                file=update.file,
                diff=update.diff,
                base_sha256=update.base_sha256,
                subject=commit_subject(update.file, cause_text),
                reason=update.reason,
                key=key,
                item_id=item_id,
            )
        )
        await asyncio.to_thread(
            lambda: close_applied(
                self.engine, self.clock.now(), folder=self.store.folder, file=applied.file,
                revision=applied.revision, actor=ACTOR,
            )
        )  # fmt: skip
        await self._trace(
            item_id,
            "memory change",
            {"file": update.file, "diff": update.diff, "reason": update.reason},
            None,
            output={"commit": applied.revision, "auto_applied": True},
        )
        log.info(
            "memory: auto-applied a change to %s as %s (item=%s trace=%s, %s)",
            update.file,
            applied.revision[:10],
            item_id,
            trace_id,
            cause_text,
        )

    async def _trace(
        self,
        item_id: int,
        name: str,
        input: dict[str, Any],
        error: str | None,
        output: dict[str, Any] | None = None,
    ) -> None:
        if self.steps is None:
            return
        steps = self.steps
        try:
            await asyncio.to_thread(
                lambda: steps.record_step(item_id, name, input=input, output=output, error=error)
            )
        except Exception:  # noqa: BLE001 - tracing never stops learning
            log.exception("memory: %s for item=%s not traced", name, item_id)

    def _compare(self, update: MemoryUpdate) -> Comparison:
        """The new proposal against the file and the open proposals for it (see proposals.py)."""
        try:
            current = self.store.read(update.file)
        except AmbientError:  # not there yet: nothing to compare with
            return Comparison()
        if sha256_text(current) != update.base_sha256:
            return Comparison()  # edited in the moments since the proposal: compare nothing
        return compare(self.engine, update.file, current, update.diff)

    def _in_file(self, file: str, diff: str) -> bool:
        """Whether the memory file already has the change (an identical one was applied)."""
        try:
            return already_applied(self.store.read(file), diff)
        except AmbientError:  # unreadable or missing: the model is asked, as before
            return False

    def _already_proposed(self, cause: str, after_id: int) -> bool:
        """Whether a memory_update for this cause newer than `after_id` exists (crash safety)."""
        query = select(Approval.id).where(
            Approval.kind == ActionKind.MEMORY_UPDATE,
            Approval.tool_call_id == cause,
            col(Approval.id) > after_id,
        )
        with read_session(self.engine) as session:
            return session.exec(query).first() is not None
