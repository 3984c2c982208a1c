"""Replaying decided items through the real agent, with no side effects, one model at a time.

Each item runs through :class:`~ambient.agent.runner.TriageAgent` as the daemon would run it,
but nothing of the outcome goes anywhere: the drafts are compared with what the human decided
and dropped (nothing queued, nothing executed), the agent is untraced, and its memory is a
temporary copy (see ``workspace``). The agent's "today" is when the item arrived, as it was for
the original run. Items run one after another, in item order, so a model's few-shot examples
come only from items before the one replayed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage

from ambient.agent.deps import AgentItem
from ambient.agent.examples import ExampleSource
from ambient.agent.runner import RunOutcome, TriageAgent
from ambient.core.clock import Clock, utc
from ambient.core.config import Settings
from ambient.core.processing import PermanentItemError, TransientItemError
from ambient.evals.agreement import ReplayedAction, compare, failed
from ambient.evals.dataset import DatasetRow, replay_item
from ambient.evals.results import ItemResult
from ambient.memory.store import MemoryStore

Progress = Callable[[str, int, int], None]
"""Called after each item: (model, items done, items in all)."""


@dataclass(frozen=True)
class Setup:
    """One column of the comparison: a model, named by its model string."""

    label: str
    model: Model


@dataclass(frozen=True)
class Case:
    """One decided item to replay: the dataset row and the item the agent reads."""

    row: DatasetRow
    item: AgentItem


def cases_from(rows: Sequence[DatasetRow]) -> list[Case]:
    """Cases in item order. Item ids are the rows' ``metadata.item_id`` when every row has a
    different one (the ledger's ids, which few-shot examples are ordered by), else positions."""
    ids = [row.item_id for row in rows]
    from_ledger = None not in ids and len(set(ids)) == len(ids)
    cases = []
    for position, row in enumerate(rows, start=1):
        item_id = row.item_id if from_ledger and row.item_id is not None else position
        trace_id = row.source_trace_id or f"eval-{row.id}"
        cases.append(Case(row, replay_item(row, item_id, trace_id)))
    return sorted(cases, key=lambda case: case.item.item_id)


class ReplayClock:
    """The agent's clock during a replay: the time the replayed item arrived."""

    def __init__(self, fallback: Clock) -> None:
        self.fallback = fallback
        self.at: datetime | None = None

    def now(self) -> datetime:
        return utc(self.at) if self.at is not None else self.fallback.now()


def replay_agent(
    settings: Settings,
    setup: Setup,
    memory: MemoryStore,
    clock: Clock,
    examples: ExampleSource | None,
) -> TriageAgent:
    """The real agent for one setup: untraced, on the memory copy, with `examples` as its
    few-shot source (None: no examples)."""
    return TriageAgent(
        settings, setup.model, memory, clock, model_string=setup.label, examples=examples
    )


def _result(
    case: Case, model: str, outcome: RunOutcome | None, seconds: float, error: str | None = None
) -> ItemResult:
    """The item's result from the run's `outcome` (None: the run failed with `error`)."""
    expected = case.row.expected_output
    drafts = tuple(ReplayedAction(d.kind, d.args) for d in outcome.drafts) if outcome else ()
    decision = outcome.triage.decision if outcome else None
    usage = outcome.usage if outcome else RunUsage()
    return ItemResult(
        example_id=case.row.id,
        item_id=case.item.item_id,
        subject=case.item.message.subject,
        model=model,
        expected=expected,
        decision=decision,
        drafts=drafts,
        agreement=compare(expected, decision, drafts) if outcome else failed(expected),
        requests=usage.requests,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        seconds=seconds,
        examples=tuple(outcome.examples) if outcome else (),
        error=error,
    )


async def replay_case(agent: TriageAgent, clock: ReplayClock, case: Case, model: str) -> ItemResult:
    """One item through `agent`; a run that fails (model error, limits) is a result too."""
    clock.at = case.row.received_at
    started = time.perf_counter()
    try:
        outcome = await agent.triage(case.item)
    except (PermanentItemError, TransientItemError) as error:
        return _result(case, model, None, time.perf_counter() - started, str(error))
    return _result(case, model, outcome, time.perf_counter() - started)


async def replay(
    cases: Sequence[Case],
    setups: Sequence[Setup],
    *,
    settings: Settings,
    memory: MemoryStore,
    clock: Clock,
    examples: ExampleSource | None,
    progress: Progress | None = None,
) -> dict[str, list[ItemResult]]:
    """Every case under every setup; the results by model, in item order."""
    results: dict[str, list[ItemResult]] = {}
    for setup in setups:
        replay_clock = ReplayClock(clock)
        agent = replay_agent(settings, setup, memory, replay_clock, examples)
        done: list[ItemResult] = []
        for case in cases:
            done.append(await replay_case(agent, replay_clock, case, setup.label))
            if progress is not None:
                progress(setup.label, len(done), len(cases))
        results[setup.label] = done
    return results
