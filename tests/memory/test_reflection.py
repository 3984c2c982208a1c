"""Learning: a human's correction becomes a small memory diff, queued for approval or applied."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus, ReflectionStatus
from ambient.core.config import Secrets, Settings
from ambient.core.diffs import apply_diff, make_diff, sha256_text
from ambient.memory.history import MemoryHistory
from ambient.memory.reflection import MAX_ATTEMPTS, Reflector
from ambient.memory.store import MemoryStore
from ambient.runtime import Runtime
from tests.conftest import FrozenClock
from tests.memory.scripted import Reflecting, add_line, fixed

STYLE_RULE = "- With customers: no exclamation marks, no 'Cheers'."


def reject(queue: ApprovalQueue, row: Approval, reason: str) -> Approval:
    assert row.id is not None
    return queue.reject(row.id, shown_hash=queue.shown_hash(row), reason=reason, actor="test")


def memory_updates(queue: ApprovalQueue) -> list[Approval]:
    return [row for row in queue.list() if row.kind == "memory_update"]


async def test_a_rejection_becomes_a_memory_update_approval(
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
) -> None:
    rejected = reject(queue, drafted_reply(), "Too chirpy for a customer. Never 'Cheers'.")
    base = store.read("writing_style.md")
    model = Reflecting(add_line(store, "writing_style.md", "- Plain words", STYLE_RULE))

    assert await make_reflector(model).tick() == 1

    (update,) = memory_updates(queue)
    assert update.status == ApprovalStatus.PENDING
    assert update.args["file"] == "writing_style.md"
    assert update.args["base_sha256"] == sha256_text(base)
    assert apply_diff(base, update.args["diff"]) == base.replace(
        "emoji.\n", f"emoji.\n{STYLE_RULE}\n"
    )
    assert update.args["diff"].startswith("--- a/writing_style.md\n+++ b/writing_style.md\n@@")
    assert update.rationale.startswith(
        f"Learned from rejection of approval {rejected.id} (item {rejected.item_id}):"
    )
    assert update.run_state is None and update.item_id == rejected.item_id
    assert queue.get(rejected.id or 0).reflection_status == ReflectionStatus.DONE
    assert store.read("writing_style.md") == base  # nothing applied before approval
    prompt = model.prompts[0]
    assert "REJECTED" in prompt and "Never 'Cheers'" in prompt
    assert "<untrusted_email_metadata>" in prompt and "Thursday's review" in prompt
    assert "Sure! Friday works great!!! Cheers" in prompt
    assert '<memory_file name="writing_style.md">' in prompt


async def test_an_edit_shows_the_model_what_the_human_changed(
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
) -> None:
    row = drafted_reply()
    assert row.id is not None
    edited_args = {**row.args, "body": "Hi Dana,\n\nFriday at 10:00 works.\n\nBest,\nRobin"}
    queue.edit(row.id, shown_hash=queue.shown_hash(row), args=edited_args, actor="test")
    model = Reflecting("a one-off edit")

    assert await make_reflector(model).tick() == 1

    assert "EDITED" in model.prompts[0]
    assert "+Friday at 10:00 works." in model.prompts[0]
    assert memory_updates(queue) == []
    assert queue.get(row.id).reflection_status == ReflectionStatus.DONE


async def test_a_diff_that_does_not_apply_is_sent_back_to_the_model(
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
) -> None:
    reject(queue, drafted_reply(), "no exclamation marks")
    invented = "@@ -1,2 +1,3 @@\n # Style\n-Be nice\n+Be calm\n"
    model = Reflecting(
        fixed("writing_style.md", invented),
        fixed("../../etc/passwd", invented),
        add_line(store, "writing_style.md", "- Plain words", STYLE_RULE),
    )

    await make_reflector(model).tick()

    assert "hunk 1 does not match the file" in model.prompts[1]
    assert "'..' is not allowed" in model.prompts[2]
    assert "memory files: profile.md, triage_rules.md" in model.prompts[2]
    (update,) = memory_updates(queue)
    assert STYLE_RULE in update.args["diff"]


async def test_a_whole_file_rewrite_is_refused(
    queue: ApprovalQueue,
    store: MemoryStore,
    clock: FrozenClock,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rejected = reject(queue, drafted_reply(), "no")
    text = store.read("triage_rules.md")
    rewrite = make_diff("triage_rules.md", text, "# Triage rules\n- Reply to everything.\n")
    model = Reflecting(*[fixed("triage_rules.md", rewrite)] * 20)
    reflector = make_reflector(model)

    for _ in range(MAX_ATTEMPTS):
        assert await reflector.tick() == 0
        clock.advance(hours=1)

    assert "that is a rewrite, not a targeted change" in model.prompts[1]
    assert memory_updates(queue) == []
    assert store.read("triage_rules.md") == text
    assert queue.get(rejected.id or 0).reflection_status == ReflectionStatus.DONE  # gave up
    assert any("giving up" in record.getMessage() for record in caplog.records)


async def test_the_test_model_learns_nothing_from_a_one_word_rejection(
    settings: Settings,
    secrets: Secrets,
    engine: Engine,
    clock: FrozenClock,
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
) -> None:
    rejected = reject(queue, drafted_reply(), "no")
    runtime = Runtime(settings, secrets, clock, engine=engine)
    reflector = runtime.reflector

    assert await reflector.tick() == 1

    assert memory_updates(queue) == []
    assert queue.get(rejected.id or 0).reflection_status == ReflectionStatus.DONE
    assert reflector.agent.model is runtime.model and runtime.model.model_name == "test"


async def test_auto_apply_commits_the_change_without_an_approval(
    settings: Settings,
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
) -> None:
    settings.memory.auto_apply = True
    rejected = reject(queue, drafted_reply(), "Too chirpy.")
    model = Reflecting(add_line(store, "writing_style.md", "- Plain words", STYLE_RULE))

    assert await make_reflector(model).tick() == 1

    assert memory_updates(queue) == []
    assert STYLE_RULE in store.read("writing_style.md")
    newest = MemoryHistory(store.folder).log()[0]
    assert newest.subject == (
        f"memory: writing_style.md — learned from rejection of approval {rejected.id} "
        f"(item {rejected.item_id})"
    )
    assert queue.get(rejected.id or 0).reflection_status == ReflectionStatus.DONE


async def test_a_failing_model_is_logged_with_ids_and_retried_later(
    queue: ApprovalQueue,
    store: MemoryStore,
    clock: FrozenClock,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[[Reflecting], Reflector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="ambient.memory")
    rejected = reject(queue, drafted_reply(), "no")
    model = Reflecting()  # no steps yet: every request fails
    reflector = make_reflector(model)

    assert await reflector.tick() == 0

    assert queue.get(rejected.id or 0).reflection_status == ReflectionStatus.PENDING
    (record,) = caplog.records
    assert f"reflection of approval {rejected.id} failed" in record.getMessage()
    assert "item=1 trace=trace-1 attempt 1/5" in record.getMessage()
    model.steps.append("nothing to learn")
    assert await reflector.tick() == 0  # backing off: not retried at once
    clock.advance(seconds=31)
    assert await reflector.tick() == 1
    assert queue.get(rejected.id or 0).reflection_status == ReflectionStatus.DONE


class RecordedSteps:
    """Stands in for the item's trace: keeps the steps reflection records."""

    enabled = False

    def __init__(self) -> None:
        self.steps: list[tuple[int, str, object, object]] = []

    def record_step(self, item, name, *, input=None, output=None, error=None) -> None:  # type: ignore[no-untyped-def]
        self.steps.append((item, name, output, error))


async def test_reflection_and_an_auto_applied_change_are_steps_on_the_items_trace(
    settings: Settings,
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
    make_reflector: Callable[..., Reflector],
) -> None:
    settings.memory.auto_apply = True
    rejected = reject(queue, drafted_reply(), "Too chirpy.")
    model = Reflecting(add_line(store, "writing_style.md", "- Plain words", STYLE_RULE))
    steps = RecordedSteps()
    reflector = make_reflector(model, steps=steps)
    assert await reflector.tick() == 1
    names = [(item, name) for item, name, _output, _error in steps.steps]
    assert (rejected.item_id, "memory change") in names
    assert (rejected.item_id, "memory reflection") in names
    change = next(output for _i, name, output, _e in steps.steps if name == "memory change")
    assert (
        isinstance(change, dict)
        and change["commit"] == MemoryHistory(store.folder).log()[0].revision
    )


async def test_reading_a_missing_memory_file_answers_with_the_files_there_are(
    store: MemoryStore,
) -> None:
    from pydantic_ai.messages import (
        ModelMessage,
        ModelRequest,
        ModelResponse,
        ToolCallPart,
        ToolReturnPart,
    )
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    from ambient.core.diffs import ChangeLimits
    from ambient.memory.reflection_agent import ReflectionDeps, build_reflection_agent

    answers: list[str] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returned = [
            part
            for m in messages
            if isinstance(m, ModelRequest)
            for part in m.parts
            if isinstance(part, ToolReturnPart)
        ]
        if not returned:
            return ModelResponse(parts=[ToolCallPart("read_file", {"file": "nope.md"})])
        answers.append(str(returned[-1].content))
        tool = next(t.name for t in info.output_tools if "NoMemoryChange" in t.name)
        return ModelResponse(parts=[ToolCallPart(tool, {"reason": "nothing"})])

    agent = build_reflection_agent(FunctionModel(respond))
    deps = ReflectionDeps(store=store, limits=ChangeLimits(max_changed_lines=20))
    await agent.run("learn", deps=deps)
    (answer,) = answers
    assert "the memory files are:" in answer and "profile.md" in answer
