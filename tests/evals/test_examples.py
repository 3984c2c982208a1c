"""Few-shot examples in a replay: the ledger's by default, none with --no-examples, a dataset's
own earlier rows for a dataset; never the item's own decision or a later one."""

from __future__ import annotations

from sqlalchemy import Engine

from ambient.core.config import Settings
from ambient.evals.export import run_eval_export
from ambient.evals.replay import Setup
from ambient.evals.run import EvalOptions, EvalRun, run_eval
from ambient.runtime import Runtime
from tests.conftest import FrozenClock
from tests.evals.conftest import INBOX, Mail, PlannedModel, as_the_human_did, decide


async def replay(
    settings: Settings, engine: Engine, clock: FrozenClock, model: PlannedModel, **options: object
) -> EvalRun:
    return await run_eval(
        [Setup("as-the-human", model.model)],
        EvalOptions(**options),  # type: ignore[arg-type]
        settings=settings,
        engine=engine,
        clock=clock,
        tracing=None,
    )


def shown(run: EvalRun) -> dict[int, tuple[int, ...]]:
    return {result.item_id: result.examples for result in run.results["as-the-human"]}


async def test_a_replay_shows_only_earlier_decisions_from_the_ledger_as_examples(
    settings: Settings, engine: Engine, clock: FrozenClock
) -> None:
    later = Mail("Meeting on Friday?", drafted="Friday at 10 works.", decision=INBOX[0].decision)
    ids = decide(engine, clock, settings, [*INBOX, later])
    model = PlannedModel(as_the_human_did)

    run = await replay(settings, engine, clock, model)

    examples = shown(run)
    assert any("<untrusted_past_decision" in prompt for *_, prompt in model.seen)
    assert examples[ids[0]] == ()  # Dana's first mail: her later one is never shown
    assert ids[0] in examples[ids[5]]  # Dana's second: her first, decided before it
    assert examples[ids[4]] == (ids[0],)  # the office, same domain as Dana
    assert all(all(past < item for past in shown_) for item, shown_ in examples.items())
    assert run.examples == "ledger"


async def test_no_examples_replays_without_any(
    settings: Settings, engine: Engine, clock: FrozenClock, inbox: list[int]
) -> None:
    model = PlannedModel(as_the_human_did)

    run = await replay(settings, engine, clock, model, examples=False)

    assert set(shown(run).values()) == {()}
    assert run.examples == "off"
    assert not any("<untrusted_past_decision" in prompt for *_, prompt in model.seen)


async def test_a_dataset_replay_takes_its_examples_from_its_own_earlier_rows(
    runtime: Runtime, settings: Settings, engine: Engine, clock: FrozenClock, inbox: list[int]
) -> None:
    path = run_eval_export(runtime.engine, runtime.tracing, settings).path
    from_ledger = await replay(settings, engine, clock, PlannedModel(as_the_human_did))

    from_file = await replay(settings, engine, clock, PlannedModel(as_the_human_did), dataset=path)

    assert from_file.examples == "dataset"
    assert shown(from_file) == shown(from_ledger)
    assert shown(from_file)[inbox[4]] == (inbox[0],)
