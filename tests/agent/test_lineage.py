"""Every decision says what produced it: the drafts, their revisions, done items, the trace,
`approvals show`, the TUI detail and `eval export` all carry the run's lineage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_ai.models.test import TestModel
from pydantic_ai.toolsets import FunctionToolset

from ambient.agent import runner
from ambient.agent.deps import AgentDeps
from ambient.agent.processor import AgentProcessor
from ambient.agent.reviser import FeedbackReviser
from ambient.core.items import InboundItem, ItemState
from ambient.core.lineage import Lineage
from ambient.daemon.worker import Worker
from ambient.evals.export import export_decisions
from ambient.memory.history import MemoryHistory
from ambient.tracing.assembly import open_tracing
from ambient.tracing.redaction import Redactor
from ambient.tui.app import make_app
from ambient.tui.widgets.detail import detail_text
from tests.agent.conftest import claim_one, meeting_email
from tests.agent.scripted import Script, call, respond, triage
from tests.conftest import CommandLine, child_environment
from tests.daemon.mail import email_bytes

ROOT = Path(__file__).resolve().parents[2]
REPLY = respond(call("reply_email", body="Friday at 10 works.", rationale="meeting request"))
PROMPT_VERSION = """
from ambient.agent.runner import TriageAgent
from ambient.core.clock import SystemClock
from ambient.core.config import load_settings
from ambient.memory.store import MemoryStore
from pydantic_ai.models.test import TestModel
settings, _ = load_settings()
print(TriageAgent(settings, TestModel(), MemoryStore(settings.memory_dir), SystemClock())
      .prompt_version)
"""


@pytest.fixture
def history(memory) -> MemoryHistory:
    history = MemoryHistory(memory.folder)
    history.ensure_repository()
    return history


def expected(agent, queue, history: MemoryHistory, *, marker: str = "") -> Lineage:
    return Lineage(
        model=agent.settings.model_name,
        prompt_version=agent.prompt_version,
        memory_commit=history.head() + marker,
        policy_version=queue.policy.version,
    )


# ---- the prompt's version ------------------------------------------------------------------
async def test_the_prompt_version_is_the_same_from_run_to_run(
    make_agent, ledger, queue, clock
) -> None:
    script = Script(respond(triage("notify")), respond(triage("ignore")))
    agent = make_agent(script.model)
    before = agent.prompt_version
    processor = AgentProcessor(agent, queue)
    await processor.process(claim_one(ledger, meeting_email(), key="a"))
    clock.advance(days=3)  # another day: the date line is not part of the version
    await processor.process(claim_one(ledger, meeting_email(subject="Other"), key="b"))
    assert agent.prompt_version == before == make_agent(TestModel()).prompt_version
    assert len(before) == 12


def test_the_prompt_version_is_the_same_in_another_process(make_agent) -> None:
    child = subprocess.run(
        [sys.executable, "-c", PROMPT_VERSION],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=child_environment(PYTHONHASHSEED="1"),  # this process has a random one
    )
    assert child.stdout.strip() == make_agent(TestModel()).prompt_version


def test_the_prompt_version_changes_with_any_fixed_prompt_text_or_the_tools(
    make_agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = TestModel()
    original = make_agent(model).prompt_version
    for text in ("instructions", "message_intro", "examples_intro", "run_instructions"):
        texts = runner.fixed_texts()
        with monkeypatch.context() as patch:
            changed = {**texts, text: texts[text] + "\nBe brief."}
            patch.setattr(runner, "fixed_texts", lambda changed=changed: changed)
            assert make_agent(model).prompt_version != original, text
    assert make_agent(model).prompt_version == original
    build_toolset = runner.build_toolset

    def with_another_tool() -> FunctionToolset[AgentDeps]:
        toolset = build_toolset()

        @toolset.tool_plain
        def calendar(day: str) -> str:
            """What the user has on that day."""
            return "nothing"

        return toolset

    monkeypatch.setattr(runner, "build_toolset", with_another_tool)
    assert make_agent(model).prompt_version != original


# ---- the lineage goes with every decision --------------------------------------------------
async def test_drafts_their_item_and_the_trace_step_carry_the_runs_lineage(
    make_agent, queue, ledger, settings, secrets, engine, clock, history
) -> None:
    tracing = open_tracing(settings, secrets, engine, clock)  # local trace log only
    agent = make_agent(Script(REPLY).model)
    worker = Worker(ledger, AgentProcessor(agent, queue, tracing.tracer), settings.worker, "w1")
    item_id = ledger.ingest(InboundItem("inbox", "k1", meeting_email())).item_id
    await worker.run_until_idle()
    lineage = expected(agent, queue, history)
    (row,) = queue.list(item_id=item_id)
    assert Lineage.from_json(row.lineage_json) == lineage
    item = ledger.get(item_id)
    assert item.state == ItemState.AWAITING_APPROVAL
    assert Lineage.from_json(item.lineage_json) == lineage
    events = {event.name: event for event in tracing.trace_log.events(trace_id=item.trace_id)}
    assert events["agent.triage"].detail["output"]["lineage"] == lineage.to_dict()
    tracing.close()


async def test_an_item_found_already_drafted_keeps_the_lineage_of_its_drafts(
    make_agent, queue, ledger, history
) -> None:
    processor = AgentProcessor(make_agent(Script(REPLY).model), queue)
    claimed = claim_one(ledger, meeting_email())
    first = await processor.process(claimed)
    again = await processor.process(claimed)  # reclaimed after a crash: not run again
    assert first.lineage is not None and again.lineage == first.lineage


async def test_an_item_triaged_without_drafts_keeps_its_lineage(
    make_agent, queue, ledger, settings, history
) -> None:
    agent = make_agent(Script(respond(triage("ignore", "newsletter"))).model)
    worker = Worker(ledger, AgentProcessor(agent, queue), settings.worker, "w1")
    item_id = ledger.ingest(InboundItem("inbox", "k1", meeting_email())).item_id
    await worker.run_until_idle()
    item = ledger.get(item_id)
    assert item.state == ItemState.DONE and queue.list(item_id=item_id) == []
    assert Lineage.from_json(item.lineage_json) == expected(agent, queue, history)


async def test_a_revision_after_feedback_carries_the_lineage_it_was_revised_with(
    make_agent, queue, ledger, clock, settings, memory, history
) -> None:
    revised = respond(call("reply_email", body="Friday at 11 works.", rationale="moved"))
    script = Script(REPLY, revised)
    agent = make_agent(script.model)
    claimed = claim_one(ledger, meeting_email())
    outcome = await AgentProcessor(agent, queue).process(claimed)
    ledger.complete(claimed.id, claimed.lease_owner, outcome.state, outcome.triage)
    (first,) = queue.list(item_id=claimed.id)
    queue.feedback(first.id, shown_hash=queue.shown_hash(first), message="11", actor="robin")
    (memory.folder / "profile.md").write_text("# Profile\nName: Robin, 11 o'clock person.\n")
    reviser = FeedbackReviser(agent, queue, ledger, clock, settings.worker)
    assert await reviser.tick() == 1
    (new,) = [row for row in queue.list(item_id=claimed.id) if row.parent_id == first.id]
    assert Lineage.from_json(new.lineage_json) == expected(agent, queue, history, marker="+edits")
    assert Lineage.from_json(first.lineage_json) == expected(agent, queue, history)


async def test_approvals_show_the_tui_detail_and_eval_export_show_the_lineage(
    make_agent, queue, ledger, settings, engine, clock, history, runtime, cli: CommandLine
) -> None:
    agent = make_agent(Script(REPLY, respond(triage("ignore"))).model)
    worker = Worker(ledger, AgentProcessor(agent, queue), settings.worker, "w1")
    drafted = ledger.ingest(InboundItem("inbox", "k1", meeting_email())).item_id
    await worker.run_until_idle()
    news = email_bytes("News", message_id="<news@example.com>")
    ignored = ledger.ingest(InboundItem("inbox", "k2", news)).item_id
    await worker.run_until_idle()
    lineage = expected(agent, queue, history)
    (row,) = queue.list(item_id=drafted)

    code, shown = cli.json("approvals", "show", str(row.id))
    assert code == 0 and shown["lineage"] == lineage.to_dict()
    code, out = cli.run("approvals", "show", str(row.id))
    made_by, versions = lineage.describe_lines()
    assert f"lineage: {made_by}\n         {versions}\n" in out

    view = make_app(runtime).backend.approval_view(row.id)  # the TUI's detail pane
    detail = detail_text(view, clock.now()).plain.splitlines()
    at = detail.index(f"lineage: {made_by}")
    assert detail[at + 1].strip() == versions and len(detail[at + 1]) <= 80

    queue.reject(row.id, shown_hash=queue.shown_hash(row), reason="no", actor="robin")
    path = settings.data_dir / "eval" / "set.jsonl"
    export_decisions(engine, Redactor(), dataset="set", path=path, langfuse=None)
    metadata = {
        example["metadata"]["item_id"]: example["metadata"]
        for example in map(json.loads, path.read_text().splitlines())
    }
    assert metadata[drafted]["lineage"] == lineage.to_dict()  # from the approval row
    assert metadata[ignored]["lineage"] == lineage.to_dict()  # from the item
