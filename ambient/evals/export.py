"""`ambient eval export`: the human's decisions as an evaluation dataset.

One example per decided item (every action drafted for it decided for good, or triaged
ignore/notify with nothing drafted; an item with a reply still pending is left out): the input
is the item (its headers and whole text); the expected output is its triage label (decision
and priority), what the human approved, with their edits, and what they declined (with any
feedback), in the schema of ``ambient.evals.dataset``. Examples go to a local JSONL file and,
when tracing to Langfuse is on, into a Langfuse dataset, linked to the item's trace. Example
ids derive from the dataset and the trace, so exporting again updates the same dataset items
instead of adding copies.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, or_
from sqlmodel import col, select

from ambient import __version__
from ambient.approvals.autonomy import is_automatic
from ambient.approvals.decided import item_is_decided, triage_of
from ambient.approvals.kinds import KINDS
from ambient.approvals.tables import Approval, Decision
from ambient.core.config import Settings
from ambient.core.db import read_session
from ambient.core.errors import AmbientError
from ambient.core.ids import trace_id_for_item
from ambient.core.items import ItemState
from ambient.core.lineage import first_stored
from ambient.core.tables import Item, ItemContent
from ambient.evals import DEFAULT_DATASET
from ambient.evals.dataset import SCHEMA_VERSION, stored_input, write_dataset
from ambient.tracing.redaction import Redactor

if TYPE_CHECKING:
    from langfuse import Langfuse

    from ambient.tracing.assembly import Tracing

log = logging.getLogger(__name__)

ACCEPTED = frozenset({Decision.APPROVED, Decision.EDITED})


@dataclass(frozen=True)
class Example:
    id: str
    input: dict[str, Any]
    expected_output: dict[str, Any]
    metadata: dict[str, Any]
    source_trace_id: str


@dataclass(frozen=True)
class ExportReport:
    dataset: str
    examples: int
    path: Path
    uploaded: int
    langfuse_url: str | None
    tracing: str = ""  # why the dataset did (or did not) go to Langfuse

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def example_id(dataset: str, trace_id: str) -> str:
    return hashlib.sha256(f"ambient-eval:{dataset}:{trace_id}".encode()).hexdigest()[:32]


def _expected_action(approval: Approval) -> dict[str, Any]:
    assert approval.decision is not None
    action: dict[str, Any] = {
        "kind": approval.kind,
        "decision": approval.decision.value,
        "arguments": approval.effective_args,
    }
    if approval.decision == Decision.EDITED:
        action["drafted_arguments"] = approval.args
    if approval.decision_message:
        action["feedback"] = approval.decision_message
    if is_automatic(approval.decided_by):
        action["automatic"] = True
    return action


def decided_examples(engine: Engine, redactor: Redactor, dataset: str) -> list[Example]:
    """Every decided item, oldest first, redacted: each of its drafted actions decided for
    good, or triaged ignore/notify with nothing drafted. Items still waiting are left out."""
    drafted = select(Approval.item_id).where(col(Approval.kind).not_in(KINDS.detached()))
    with read_session(engine) as session:
        approvals = session.exec(
            select(Approval)
            .where(col(Approval.kind).not_in(KINDS.detached()))
            .order_by(col(Approval.item_id), col(Approval.id))
        ).all()
        wanted = or_(col(Item.id).in_(drafted), col(Item.state) == ItemState.DONE)
        items = session.exec(select(Item).where(wanted).order_by(col(Item.id))).all()
        contents = {
            item_id: raw
            for item_id, raw in session.exec(
                select(ItemContent.item_id, ItemContent.raw)
                .join(Item, col(Item.id) == col(ItemContent.item_id))
                .where(wanted)
            ).all()
        }
    by_item: dict[int, list[Approval]] = {}
    for approval in approvals:
        by_item.setdefault(approval.item_id, []).append(approval)
    examples = []
    for item in items:
        assert item.id is not None
        rows = by_item.get(item.id, [])
        triage = triage_of(item)
        if item_is_decided(item.state, triage, rows):
            examples.append(_example(item, rows, triage, contents.get(item.id), redactor, dataset))
    return examples


def _example(
    item: Item,
    approvals: list[Approval],
    triage: dict[str, Any] | None,
    raw: bytes | None,
    redactor: Redactor,
    dataset: str,
) -> Example:
    trace_id = item.trace_id or trace_id_for_item(item.source, item.key)
    summary = stored_input(item.source, item.key, item.kind, raw, item.metadata_json)
    label = {
        "decision": (triage or {}).get("decision") or ("act" if approvals else None),
        "priority": (triage or {}).get("priority"),
    }
    expected = {
        "triage": label,
        "actions": [_expected_action(a) for a in approvals if a.decision in ACCEPTED],
        "declined": [_expected_action(a) for a in approvals if a.decision not in ACCEPTED],
    }
    metadata = {
        "schema_version": SCHEMA_VERSION,
        "item_id": item.id,
        "received_at": (item.received_at or item.created_at).isoformat(),
        "source": item.source,
        "kind": item.kind,
        "approval_ids": [approval.id for approval in approvals],
        "decisions": [
            approval.decision.value for approval in approvals if approval.decision is not None
        ],
        "triage_reason": (triage or {}).get("reason"),
        "decided_at": max(
            (a.decided_at.isoformat() for a in approvals if a.decided_at is not None),
            default=item.updated_at.isoformat(),
        ),
        "ambient_version": __version__,
        # what produced the decisions: the newest draft's, else the triage's; null: unknown
        "lineage": first_stored(*(a.lineage_json for a in reversed(approvals)), item.lineage_json),
    }
    return Example(
        id=example_id(dataset, trace_id),
        input=redactor.value(summary),
        expected_output=redactor.value(expected),
        metadata=redactor.value(metadata),
        source_trace_id=trace_id,
    )


def write_jsonl(examples: Iterable[Example], path: Path) -> int:
    return write_dataset([asdict(example) for example in examples], path)


def upload(examples: list[Example], dataset: str, langfuse: Langfuse) -> int:
    """Create (or update) the Langfuse dataset and its items; raises AmbientError on failure."""
    try:
        langfuse.create_dataset(
            name=dataset,
            description="Decisions made in ambient: the item, and what the human approved.",
            metadata={"source": "ambient", "ambient_version": __version__},
        )
        for example in examples:
            langfuse.create_dataset_item(
                dataset_name=dataset,
                id=example.id,
                input=example.input,
                expected_output=example.expected_output,
                metadata=example.metadata,
                source_trace_id=example.source_trace_id,
            )
    except Exception as error:  # noqa: BLE001 - the SDK raises its own API and HTTP errors
        raise AmbientError(
            f"Langfuse dataset {dataset!r}: upload failed after the local file was written: "
            f"{type(error).__name__}: {error}"
        ) from error
    return len(examples)


def export_decisions(
    engine: Engine,
    redactor: Redactor,
    *,
    dataset: str,
    path: Path,
    langfuse: Langfuse | None,
    langfuse_url: str | None = None,
    tracing: str = "",
) -> ExportReport:
    examples = decided_examples(engine, redactor, dataset)
    written = write_jsonl(examples, path)
    uploaded = upload(examples, dataset, langfuse) if langfuse is not None else 0
    log.info("eval export: %d example(s) to %s, %d to Langfuse", written, path, uploaded)
    url = langfuse_url if langfuse is not None else None
    return ExportReport(dataset, written, path, uploaded, url, tracing)


def default_export_path(settings: Settings, dataset: str) -> Path:
    return settings.data_dir / "eval" / f"{dataset}.jsonl"


def run_eval_export(
    engine: Engine,
    tracing: Tracing,
    settings: Settings,
    *,
    dataset: str = DEFAULT_DATASET,
    path: Path | None = None,
) -> ExportReport:
    """What `ambient eval export` does, on the runtime's database and tracing."""
    return export_decisions(
        engine,
        tracing.redactor,
        dataset=dataset,
        path=path or default_export_path(settings, dataset),
        langfuse=tracing.langfuse,
        langfuse_url=tracing.connection.base_url or None,
        tracing=tracing.connection.reason,
    )
