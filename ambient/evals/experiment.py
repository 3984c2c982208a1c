"""A replay recorded in Langfuse: one experiment per model on the exported dataset's items.

The replayed items are uploaded as dataset items first (the ids `eval export` gives them, so
they are the same items, each linked to its item's trace), then each model's results become
one experiment run on those items (Langfuse's ``run_experiment``): per item, the replay's
output and the agreement scores; per run, the totals. The SDK records an experiment as spans
with experiment attributes; they go through the local spool like every span, and are
forwarded at once (the daemon forwards whatever is left). The replay itself sends no trace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ambient.core.errors import AmbientError
from ambient.evals import DEFAULT_DATASET
from ambient.evals.dataset import DatasetRow
from ambient.evals.export import Example, example_id, upload
from ambient.evals.results import ItemResult, ModelTotals

if TYPE_CHECKING:
    from langfuse import Langfuse
    from langfuse.experiment import Evaluation

    from ambient.tracing.assembly import Tracing

log = logging.getLogger(__name__)

ITEM_SCORES = (
    "triage_agreement",
    "action_kind_agreement",
    "recipient_agreement",
    "draft_similarity",
    "rejected_still_drafted",
)


@dataclass(frozen=True)
class ExperimentRecord:
    model: str
    run_name: str
    experiment_id: str
    url: str | None
    items: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def langfuse_item_id(dataset: str, row: DatasetRow) -> str:
    """The row's dataset item id: its own in the export's dataset (the same item `eval export`
    writes), else one derived from the dataset too (a Langfuse item id is the project's)."""
    return row.id if dataset == DEFAULT_DATASET else example_id(dataset, row.id)


def _example(dataset: str, row: DatasetRow, tracing: Tracing) -> Example:
    values = tracing.redactor.value(row.to_json())
    return Example(
        id=langfuse_item_id(dataset, row),
        input=values["input"],
        expected_output=values["expected_output"],
        metadata=values["metadata"],
        source_trace_id=row.source_trace_id or "",
    )


def item_scores(result: ItemResult) -> dict[str, float]:
    """The item's measures as Langfuse scores (1/0 for agreement; absent: does not apply)."""
    agreement = result.agreement
    values: dict[str, float | bool | None] = {
        "triage_agreement": agreement.triage,
        "action_kind_agreement": agreement.kinds,
        "recipient_agreement": agreement.recipients,
        "draft_similarity": agreement.similarity,
        "rejected_still_drafted": agreement.still_drafted if agreement.rejected else None,
    }
    return {name: float(value) for name, value in values.items() if value is not None}


def run_scores(totals: ModelTotals) -> dict[str, float]:
    values = {
        "triage_agreement": totals.triage_agreement,
        "action_kind_agreement": totals.action_kind_agreement,
        "recipient_agreement": totals.recipient_agreement,
        "draft_similarity": totals.draft_similarity,
        "rejected_still_drafted_share": totals.rejected_still_drafted_share,
        "requests_per_item": totals.per_item(totals.requests),
    }
    return {name: float(value) for name, value in values.items() if value is not None}


def _evaluations(scores: dict[str, float]) -> list[Evaluation]:
    from langfuse.experiment import Evaluation

    return [Evaluation(name=name, value=value) for name, value in scores.items()]


def _output(result: ItemResult) -> dict[str, Any]:
    return {
        "example_id": result.example_id,
        "triage": result.decision,
        "drafts": [{"kind": d.kind, "arguments": d.arguments} for d in result.drafts],
        "disagreements": result.agreement.disagreements,
        "error": result.error,
    }


def _run(
    langfuse: Langfuse,
    items: Sequence[Any],
    results: dict[str, ItemResult],
    totals: ModelTotals,
    *,
    run_name: str,
    metadata: dict[str, str],
) -> ExperimentRecord:
    """One experiment: `results` by their dataset item's id."""
    by_id = {result.example_id: result for result in results.values()}

    def task(*, item: Any, **_: Any) -> dict[str, Any]:
        return _output(results[item.id])

    def agreement_with_the_human(*, output: dict[str, Any], **_: Any) -> list[Evaluation]:
        return _evaluations(item_scores(by_id[output["example_id"]]))

    def totals_of_the_run(**_: Any) -> list[Evaluation]:
        return _evaluations(run_scores(totals))

    replayed = [item for item in items if item.id in results]
    outcome = langfuse.run_experiment(
        name="ambient eval run",
        run_name=run_name,
        description=f"Decided items replayed with {totals.model}",
        data=replayed,
        task=task,
        evaluators=[agreement_with_the_human],
        run_evaluators=[totals_of_the_run],
        max_concurrency=8,
        metadata=metadata,
    )
    return ExperimentRecord(
        totals.model, run_name, outcome.experiment_id, outcome.experiment_url, len(replayed)
    )


def record_experiments(
    tracing: Tracing,
    dataset: str,
    rows: Sequence[DatasetRow],
    results: dict[str, list[ItemResult]],
    totals: Sequence[ModelTotals],
    *,
    run_name: str,
    metadata: dict[str, str],
) -> list[ExperimentRecord]:
    """Upload `rows` to the Langfuse `dataset`, then one experiment per model; blocking (the
    SDK runs its own event loop: call it in a thread). AmbientError when Langfuse fails."""
    langfuse = tracing.langfuse
    assert langfuse is not None
    upload([_example(dataset, row, tracing) for row in rows], dataset, langfuse)
    try:
        items = langfuse.get_dataset(dataset).items
        ids = {row.id: langfuse_item_id(dataset, row) for row in rows}
        records = [
            _run(
                langfuse,
                items,
                {ids[result.example_id]: result for result in results[model.model]},
                model,
                run_name=f"{run_name} {model.model}",
                metadata={**metadata, "model": model.model},
            )
            for model in totals
        ]
    except Exception as error:  # noqa: BLE001 - the SDK raises its own API and HTTP errors
        raise AmbientError(
            f"Langfuse dataset {dataset!r}: the experiment was not recorded: "
            f"{type(error).__name__}: {error}"
        ) from error
    tracing.tracer.flush()  # the experiment's spans into the spool
    log.info("eval run: %d experiment(s) on Langfuse dataset %s", len(records), dataset)
    return records
