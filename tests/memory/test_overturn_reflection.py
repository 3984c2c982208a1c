"""An overturned ignore is a correction memory learns from: reflection is shown the email, the
decision and the user's words, once, and proposes a change so such mail is not ignored again;
an ignore a pre-rule made is the rule's to change, so no model is asked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import Engine

from ambient.approvals.queue import ApprovalQueue
from ambient.core.config import Settings
from ambient.core.items import ItemState
from ambient.core.ledger import Ledger
from ambient.core.lineage import NO_MODEL, Lineage
from ambient.core.review import ItemReview
from ambient.memory.reflection import Reflector
from ambient.memory.store import MemoryStore
from tests.conftest import FrozenClock
from tests.memory.scripted import Reflecting, add_line

RULE = "- Quote requests from companies are customers: never ignore them."
LINEAGE = Lineage(model="test", prompt_version="p", memory_commit="none", policy_version="v")


def ignored(
    engine: Engine, clock: FrozenClock, settings: Settings, item_id: int, rule: str | None = None
) -> None:
    """The worker's ignore decision on the item."""
    ledger = Ledger(engine, clock, settings.worker)
    (claimed,) = ledger.claim("w1", 1)
    assert claimed.id == item_id
    triage = {"decision": "ignore", "reason": "a meeting shuffle, nothing to do", "summary": "x"}
    lineage = replace(LINEAGE, model=NO_MODEL, pre_rule=rule) if rule else LINEAGE
    ledger.complete(item_id, "w1", ItemState.DONE, triage, lineage)


async def test_an_overturned_ignore_becomes_a_memory_update_learned_from_it(
    engine: Engine,
    clock: FrozenClock,
    settings: Settings,
    queue: ApprovalQueue,
    store: MemoryStore,
    item_id: int,
    make_reflector: Callable[[Reflecting], Reflector],
) -> None:
    ignored(engine, clock, settings, item_id)
    reviews = ItemReview(engine, clock)
    reviews.overturn(item_id, "Dana is my manager: her meeting mail always needs an answer")
    model = Reflecting(add_line(store, "triage_rules.md", "#", RULE))
    reflector = make_reflector(model)

    assert await reflector.tick() == 1

    (prompt,) = model.prompts
    assert "The assistant decided to IGNORE it" in prompt
    assert "Its reason: a meeting shuffle, nothing to do" in prompt
    assert "OVERTURNED" in prompt
    assert "<human>Dana is my manager: her meeting mail always needs an answer</human>" in prompt
    assert "<untrusted_email_metadata>" in prompt and "Thursday's review" in prompt
    (update,) = [row for row in queue.list() if row.kind == "memory_update"]
    assert update.args["file"] == "triage_rules.md" and RULE in update.args["diff"]
    assert update.rationale.startswith(f"Learned from the overturned ignore of item {item_id}:")
    assert update.item_id == item_id and update.tool_call_id == f"overturn-{item_id}"
    assert reviews.pending_reflections(10) == []
    assert await reflector.tick() == 0  # learned once


async def test_an_overturned_pre_rule_ignore_is_settled_without_asking_a_model(
    engine: Engine,
    clock: FrozenClock,
    settings: Settings,
    queue: ApprovalQueue,
    item_id: int,
    make_reflector: Callable[[Reflecting], Reflector],
) -> None:
    ignored(engine, clock, settings, item_id, rule="bulk")
    reviews = ItemReview(engine, clock)
    reviews.overturn(item_id)
    model = Reflecting()  # any request would fail: there is no step

    assert await make_reflector(model).tick() == 1

    assert model.prompts == []
    assert [row for row in queue.list() if row.kind == "memory_update"] == []
    assert reviews.pending_reflections(10) == []
