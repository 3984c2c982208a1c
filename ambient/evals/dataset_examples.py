"""Few-shot examples for a dataset replay: the dataset's own earlier rows, not the ledger.

The same rule as the ledger's :class:`~ambient.agent.examples.LedgerExamples`: only rows with
a smaller item id than the item replayed, ranked by how they are alike (same sender address,
then the same thread, the sender's domain unless a public webmail one, the same subject
without Re:/Fwd:), on the same keys (:func:`~ambient.agent.examples.match_keys`), rows with
decisions on drafted actions before the triage a human let stand, newest first within each.
"""

from __future__ import annotations

from collections.abc import Sequence

from ambient.agent.deps import AgentItem
from ambient.agent.examples import (
    MATCHES,
    NOT_SIMILAR,
    PastAction,
    PastDecision,
    match_keys,
    rank_of,
)
from ambient.approvals.kinds import KINDS
from ambient.evals.dataset import ExpectedAction, ExpectedOutput
from ambient.evals.replay import Case


def match_rank(new: AgentItem, past: AgentItem) -> int | None:
    """How `past` is like `new` (an index into MATCHES), None: not alike."""
    rank = rank_of(match_keys(new.message), match_keys(past.message))
    return None if rank == NOT_SIMILAR else rank


def _past_action(action: ExpectedAction) -> PastAction:
    kind = KINDS.of(action.kind)
    try:
        headline = kind.headline(action.arguments)
        text = kind.shown_body(action.arguments) or ""
    except (KeyError, TypeError, ValueError):  # hand-written arguments of another shape
        headline, text = action.kind, ""
    return PastAction(action.kind, action.decision, headline, text, action.feedback or "")


def _past_decision(case: Case, rank: int) -> PastDecision:
    expected: ExpectedOutput = case.row.expected_output
    actions = [*expected.actions, *expected.declined]
    return PastDecision(
        item_id=case.item.item_id,
        sender=case.item.message.sender,
        subject=case.item.message.subject,
        decision=expected.triage.decision or ("act" if actions else "notify"),
        priority=expected.triage.priority or "normal",
        actions=tuple(_past_action(action) for action in actions),
        match=MATCHES[rank],
    )


class DatasetExamples:
    """An :class:`~ambient.agent.examples.ExampleSource` over a dataset's rows."""

    def __init__(self, cases: Sequence[Case]) -> None:
        self.cases = list(cases)

    def similar(self, item: AgentItem, limit: int) -> list[PastDecision]:
        if limit <= 0:
            return []
        ranked = []
        for case in self.cases:
            if case.item.item_id >= item.item_id:
                continue
            rank = match_rank(item, case.item)
            if rank is not None:
                expected = case.row.expected_output
                drafted = bool(expected.actions or expected.declined)
                ranked.append(((rank, 0 if drafted else 1, -case.item.item_id), rank, case))
        ranked.sort(key=lambda entry: entry[0])
        return [_past_decision(case, rank) for _order, rank, case in ranked[:limit]]
