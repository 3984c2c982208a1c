"""What a replay found: one result per item and model, and each model's totals.

An :class:`ItemResult` keeps what the human approved (each expected action's kind, decision
and arguments) beside what the replay drafted, so measures per action class (a kind and a
scope, as autonomy wants them) can be computed later from a stored run. Shares are rounded to
4 places; a measure that applies to no item is None (``null`` in JSON).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ambient.evals.agreement import Agreement, DraftPair, ReplayedAction
from ambient.evals.dataset import ExpectedOutput


@dataclass(frozen=True)
class ItemResult:
    """One item replayed under one model."""

    example_id: str
    item_id: int
    subject: str
    model: str
    expected: ExpectedOutput
    decision: str | None  # the replay's triage decision (None: the run failed)
    drafts: tuple[ReplayedAction, ...]
    agreement: Agreement
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0  # wall time (time.perf_counter), for people; never compared
    examples: tuple[int, ...] = ()  # past items the run was shown as examples
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        agreement = self.agreement
        return {
            "example_id": self.example_id,
            "item_id": self.item_id,
            "subject": self.subject,
            "model": self.model,
            "error": self.error,
            "triage": {
                "expected": self.expected.triage.decision,
                "replayed": self.decision,
                "agrees": agreement.triage,
            },
            "kinds": {
                "expected": [action.kind for action in self.expected.actions],
                "replayed": [draft.kind for draft in self.drafts],
                "agrees": agreement.kinds,
            },
            "recipients_agree": agreement.recipients,
            "draft_similarity": agreement.similarity,
            "rejected": agreement.rejected,
            "rejected_still_drafted": agreement.still_drafted,
            "disagreements": agreement.disagreements if self.error is None else ["failed"],
            "expected_actions": [
                {"kind": a.kind, "decision": a.decision, "arguments": a.arguments}
                for a in [*self.expected.actions, *self.expected.declined]
            ],
            "drafts": [{"kind": d.kind, "arguments": d.arguments} for d in self.drafts],
            "pairs": [_pair_json(pair) for pair in agreement.pairs],
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "seconds": round(self.seconds, 3),
            "examples": list(self.examples),
        }

    @property
    def failed(self) -> bool:
        """The replay disagreed with the human somewhere, or did not finish."""
        return self.error is not None or bool(self.agreement.disagreements)


def _pair_json(pair: DraftPair) -> dict[str, Any]:
    return {
        "kind": pair.kind,
        "approved_text": pair.approved_text,
        "drafted_text": pair.drafted_text,
        "similarity": pair.similarity,
    }


def _share(hits: int, applicable: int) -> float | None:
    return round(hits / applicable, 4) if applicable else None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


@dataclass(frozen=True)
class ModelTotals:
    """One model over every item replayed."""

    model: str
    items: int
    errors: int
    triage_agreement: float | None
    action_kind_agreement: float | None
    recipient_agreement: float | None
    draft_similarity: float | None
    rejected: int
    rejected_still_drafted: int
    requests: int
    input_tokens: int
    output_tokens: int
    seconds: float

    @property
    def rejected_still_drafted_share(self) -> float | None:
        return _share(self.rejected_still_drafted, self.rejected)

    def per_item(self, total: float) -> float | None:
        return round(total / self.items, 2) if self.items else None

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "items": self.items,
            "errors": self.errors,
            "triage_agreement": self.triage_agreement,
            "action_kind_agreement": self.action_kind_agreement,
            "recipient_agreement": self.recipient_agreement,
            "draft_similarity": self.draft_similarity,
            "rejected": self.rejected,
            "rejected_still_drafted": self.rejected_still_drafted,
            "rejected_still_drafted_share": self.rejected_still_drafted_share,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "requests_per_item": self.per_item(self.requests),
            "input_tokens_per_item": self.per_item(self.input_tokens),
            "output_tokens_per_item": self.per_item(self.output_tokens),
            "seconds": round(self.seconds, 3),
            "seconds_per_item": self.per_item(self.seconds),
        }


def totals(model: str, results: Sequence[ItemResult]) -> ModelTotals:
    agreements = [result.agreement for result in results]
    triage = [a.triage for a in agreements if a.triage is not None]
    recipients = [a.recipients for a in agreements if a.recipients is not None]
    return ModelTotals(
        model=model,
        items=len(results),
        errors=sum(result.error is not None for result in results),
        triage_agreement=_share(sum(triage), len(triage)),
        action_kind_agreement=_share(sum(a.kinds for a in agreements), len(agreements)),
        recipient_agreement=_share(sum(recipients), len(recipients)),
        draft_similarity=_mean([a.similarity for a in agreements if a.similarity is not None]),
        rejected=sum(a.rejected for a in agreements),
        rejected_still_drafted=sum(a.still_drafted for a in agreements),
        requests=sum(result.requests for result in results),
        input_tokens=sum(result.input_tokens for result in results),
        output_tokens=sum(result.output_tokens for result in results),
        seconds=sum(result.seconds for result in results),
    )
