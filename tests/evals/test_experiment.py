"""With Langfuse configured, a run is recorded as one experiment per model on the dataset items
`eval export` writes, each linked to its item's trace; without it, nothing goes there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ambient.core.config import Secrets, Settings
from ambient.core.ids import trace_id_for_item
from ambient.evals import DEFAULT_DATASET
from ambient.evals.dataset import read_dataset
from ambient.evals.export import example_id, run_eval_export
from ambient.evals.replay import Setup
from ambient.evals.run import EvalOptions, run_eval
from ambient.runtime import Runtime
from ambient.tracing.assembly import Tracing, open_tracing
from tests.conftest import FrozenClock
from tests.evals.conftest import PlannedModel, as_the_human_did, ignores_everything
from tests.servers.langfuse_receiver import LangfuseProject


@pytest.fixture
def tracing(
    settings: Settings, langfuse_project: LangfuseProject, engine: Engine, clock: FrozenClock
) -> Iterator[Tracing]:
    settings.tracing.forward_timeout_seconds = 2.0
    opened = open_tracing(settings, Secrets(langfuse_project.environment()), engine, clock)
    assert opened.langfuse is not None
    yield opened
    opened.close()


async def test_a_run_becomes_one_langfuse_experiment_per_model_on_the_exported_items(
    settings: Settings,
    engine: Engine,
    clock: FrozenClock,
    inbox: list[int],
    tracing: Tracing,
    langfuse_project: LangfuseProject,
) -> None:
    setups = [
        Setup("ignores", PlannedModel(ignores_everything).model),
        Setup("as-the-human", PlannedModel(as_the_human_did).model),
    ]

    run = await run_eval(
        setups, EvalOptions(), settings=settings, engine=engine, clock=clock, tracing=tracing
    )

    received = langfuse_project.received
    assert list(received.datasets) == [DEFAULT_DATASET]
    items = received.dataset_items
    assert sorted(item["sourceTraceId"] for item in items.values()) == sorted(
        trace_id_for_item("inbox", f"cur/{n}") for n in range(1, 6)
    )
    ignoring, human = run.experiments
    assert (ignoring.model, human.model) == ("ignores", "as-the-human")
    assert (ignoring.items, human.items) == (5, 5)
    assert ignoring.url is not None and ignoring.url.startswith(langfuse_project.base_url)
    # each item of each run: a span tree in the experiment, on its dataset item
    runs = [span for span in received.spans if span.name == "experiment-item-run"]
    assert sorted(span.attributes["langfuse.experiment.id"] for span in runs) == sorted(
        [ignoring.experiment_id] * 5 + [human.experiment_id] * 5
    )
    assert {span.attributes["langfuse.experiment.item.id"] for span in runs} == set(items)
    # the replay itself traced nothing: every span is the experiment's
    assert {span.attributes.get("langfuse.environment") for span in received.spans} == {
        "sdk-experiment"
    }
    # the totals as the runs' scores, the measures as each item's
    run_scores = {
        (score["datasetRunId"], score["name"]): score["value"]
        for score in received.scores
        if "datasetRunId" in score
    }
    assert run_scores[(ignoring.experiment_id, "triage_agreement")] == 0.2
    assert run_scores[(human.experiment_id, "triage_agreement")] == 1.0
    assert run_scores[(human.experiment_id, "rejected_still_drafted_share")] == 1.0
    item_scores = [s for s in received.scores if s.get("name") == "action_kind_agreement"]
    assert sorted(s["value"] for s in item_scores if "traceId" in s) == [0.0] * 3 + [1.0] * 7
    assert run.tracing == f"recorded in Langfuse dataset {DEFAULT_DATASET!r}"


async def test_without_langfuse_a_run_says_so_and_records_nothing(
    settings: Settings, engine: Engine, clock: FrozenClock, inbox: list[int], runtime: Runtime
) -> None:
    setups = [Setup("ignores", PlannedModel(ignores_everything).model)]

    run = await run_eval(
        setups,
        EvalOptions(),
        settings=settings,
        engine=engine,
        clock=clock,
        tracing=runtime.tracing,
    )

    assert run.experiments == []
    assert "tracing to Langfuse is off" in run.tracing


async def test_a_dataset_file_is_recorded_as_a_langfuse_dataset_of_its_own_name(
    settings: Settings,
    engine: Engine,
    clock: FrozenClock,
    inbox: list[int],
    tracing: Tracing,
    langfuse_project: LangfuseProject,
    runtime: Runtime,
    tmp_path: Path,
) -> None:
    exported = run_eval_export(runtime.engine, runtime.tracing, settings).path
    failures = tmp_path / "failures.jsonl"
    failures.write_text(exported.read_text())
    setups = [Setup("ignores", PlannedModel(ignores_everything).model)]

    run = await run_eval(
        setups,
        EvalOptions(dataset=failures),
        settings=settings,
        engine=engine,
        clock=clock,
        tracing=tracing,
    )

    received = langfuse_project.received
    assert list(received.datasets) == ["failures"]
    rows = read_dataset(failures)
    # its own item ids: a Langfuse item id belongs to one dataset of the project
    assert set(received.dataset_items) == {example_id("failures", row.id) for row in rows}
    assert run.experiments[0].items == 5


async def test_when_langfuse_fails_the_replay_still_stands_and_says_why(
    settings: Settings,
    engine: Engine,
    clock: FrozenClock,
    inbox: list[int],
    tracing: Tracing,
    langfuse_project: LangfuseProject,
) -> None:
    langfuse_project.set_mode("error")
    setups = [Setup("ignores", PlannedModel(ignores_everything).model)]

    run = await run_eval(
        setups, EvalOptions(), settings=settings, engine=engine, clock=clock, tracing=tracing
    )

    assert run.totals[0].triage_agreement == 0.2
    assert run.experiments == []
    assert "upload failed" in run.tracing
    assert (settings.data_dir / "eval" / "last-run.json").exists()
