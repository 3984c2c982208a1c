"""AMBIENT_MODEL=test learns: one readable bullet after feedback or a rejection, and it shows."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from ambient.agent.deps import AgentItem
from ambient.agent.runner import TriageAgent
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import Secrets, Settings
from ambient.core.diffs import ChangeLimits, apply_diff, changed_lines, make_diff
from ambient.memory.prompts import reproposal_prompt
from ambient.memory.reflection import Reflector
from ambient.memory.reflection_agent import (
    MemoryChangeProposal,
    ReflectionDeps,
    build_reflection_agent,
)
from ambient.memory.store import MemoryStore
from ambient.memory.tables import MemoryReproposal
from ambient.models.demo.model import demo_model
from ambient.runtime import Runtime
from tests.conftest import FrozenClock
from tests.memory.conftest import MEETING

DANA_RULE = (
    '- dana@northwind.example: notify me, do not draft a reply ("I\'ll call Dana instead.").'
)


def memory_updates(queue: ApprovalQueue) -> list[Approval]:
    return [row for row in queue.list() if row.kind == "memory_update"]


def demo_reflector(
    settings: Settings, secrets: Secrets, engine: Engine, clock: FrozenClock
) -> Reflector:
    assert settings.model == "test"
    return Runtime(settings, secrets, clock, engine=engine).reflector  # as the daemon has it


async def test_a_rejection_proposes_one_bullet_under_the_senders_contact_line(
    settings, secrets, engine, clock, queue, store, drafted_reply
) -> None:
    row = drafted_reply()
    queue.reject(
        row.id, shown_hash=queue.shown_hash(row), reason="I'll call Dana instead.", actor="r"
    )

    assert await demo_reflector(settings, secrets, engine, clock).tick() == 1

    (update,) = memory_updates(queue)
    assert update.status == ApprovalStatus.PENDING and update.args["file"] == "contacts.md"
    assert changed_lines(update.args["diff"]) == [("+", DANA_RULE)]
    before = store.read("contacts.md")
    after = apply_diff(before, update.args["diff"])
    dana = next(line for line in before.splitlines() if line.startswith("- Dana Whitfield"))
    assert f"{dana}\n{DANA_RULE}\n" in after
    assert "notify instead of drafting" in update.args["reason"]


async def test_feedback_proposes_one_writing_style_bullet_in_the_users_words(
    settings, secrets, engine, clock, queue, store, drafted_reply
) -> None:
    row = drafted_reply()
    queue.feedback(row.id, shown_hash=queue.shown_hash(row), message="Less cheerful", actor="r")

    assert await demo_reflector(settings, secrets, engine, clock).tick() == 1

    (update,) = memory_updates(queue)
    assert update.args["file"] == "writing_style.md"
    bullet = '- From your feedback on a draft reply: "Less cheerful".'
    assert changed_lines(update.args["diff"]) == [("+", bullet)]
    after = apply_diff(store.read("writing_style.md"), update.args["diff"])
    assert f"no emoji.\n{bullet}\n\n## Form" in after  # the end of the Tone section


async def test_what_it_learned_changes_the_next_triage(
    settings, secrets, engine, clock, queue, store, drafted_reply
) -> None:
    agent = TriageAgent(settings, demo_model(), store, clock)
    item = AgentItem.from_raw(1, "0" * 32, MEETING)
    assert (await agent.triage(item)).triage.decision == "act"
    row = drafted_reply()
    queue.reject(
        row.id, shown_hash=queue.shown_hash(row), reason="I'll call Dana instead.", actor="r"
    )
    await demo_reflector(settings, secrets, engine, clock).tick()
    (update,) = memory_updates(queue)
    contacts = store.folder / "contacts.md"
    contacts.write_text(apply_diff(contacts.read_text("utf-8"), update.args["diff"]), "utf-8")

    again = await agent.triage(item)

    assert (again.triage.decision, again.drafts) == ("notify", [])
    assert DANA_RULE[2:] in again.triage.reason


async def test_feedback_on_a_proposal_revises_it_with_the_users_words(
    settings, secrets, engine, clock, queue, store, drafted_reply
) -> None:
    row = drafted_reply()
    queue.reject(
        row.id, shown_hash=queue.shown_hash(row), reason="I'll call Dana instead.", actor="r"
    )
    reflector = demo_reflector(settings, secrets, engine, clock)
    await reflector.tick()
    (proposal,) = memory_updates(queue)
    words = "Dana: notify me, never draft"
    queue.feedback(proposal.id, shown_hash=queue.shown_hash(proposal), message=words, actor="r")

    await reflector.tick()

    (revised,) = [update for update in memory_updates(queue) if update.parent_id == proposal.id]
    assert changed_lines(revised.args["diff"]) == [("+", f"- {words}")]
    after = apply_diff(store.read("contacts.md"), revised.args["diff"])
    assert f"quarterly reviews; high priority.\n- {words}\n" in after  # where the first one was


async def test_an_edit_or_a_rejection_without_a_reason_proposes_nothing(
    settings, secrets, engine, clock, queue, store, drafted_reply: Callable[[], Approval]
) -> None:
    first, second = drafted_reply(), drafted_reply()
    queue.reject(first.id, shown_hash=queue.shown_hash(first), reason="", actor="r")
    queue.edit(
        second.id,
        shown_hash=queue.shown_hash(second),
        args={**second.args, "body": "Friday works."},
        actor="r",
    )

    assert await demo_reflector(settings, secrets, engine, clock).tick() == 2

    assert memory_updates(queue) == []


async def test_a_change_that_met_a_hand_edit_is_proposed_again_beside_the_edited_line(
    clock: FrozenClock, store: MemoryStore
) -> None:
    before = store.read("contacts.md")
    dana = next(line for line in before.splitlines() if line.startswith("- Dana Whitfield"))
    approved = make_diff(
        "contacts.md", before, before.replace(f"{dana}\n", f"{dana}\n{DANA_RULE}\n")
    )
    edited = dana.replace("high priority", "top priority")
    (store.folder / "contacts.md").write_text(before.replace(dana, edited), "utf-8")
    row = MemoryReproposal(
        approval_id=1, item_id=1, cause="approval:1", file="contacts.md", diff=approved,
        reason="notify instead", conflict="line 7 changed", created_at=clock.now(),
        updated_at=clock.now(),
    )  # fmt: skip
    deps = ReflectionDeps(store=store, limits=ChangeLimits())

    result = await build_reflection_agent(demo_model()).run(
        reproposal_prompt(row, store), deps=deps
    )

    assert isinstance(result.output, MemoryChangeProposal)
    assert changed_lines(result.output.diff) == [("+", DANA_RULE)]
    assert f"{edited}\n{DANA_RULE}\n" in apply_diff(store.read("contacts.md"), result.output.diff)
