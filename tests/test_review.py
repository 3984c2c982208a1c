"""Review of what the agent let pass, from the CLI: notify items wait unread until read; ignore
decisions wait until confirmed or overturned (the item then runs again, as act); `ambient
status` counts both; an item a pre-rule decided says which rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import Engine

from ambient.core.config import Settings
from ambient.core.items import InboundItem, ItemState, Review
from ambient.core.ledger import Ledger
from ambient.core.lineage import NO_MODEL, Lineage
from ambient.core.review import ItemReview
from tests.conftest import CommandLine, FrozenClock
from tests.daemon.mail import email_bytes

LINEAGE = Lineage(model="test", prompt_version="p", memory_commit="none", policy_version="v")


class Decided:
    """Items in the ledger as the worker leaves them: ingested, claimed, completed."""

    def __init__(self, engine: Engine, clock: FrozenClock, settings: Settings) -> None:
        self.ledger = Ledger(engine, clock, settings.worker)
        self.count = 0

    def item(
        self,
        decision: str,
        subject: str = "Hello",
        *,
        reason: str = "a reason",
        priority: str = "normal",
        rule: str | None = None,
        state: ItemState = ItemState.DONE,
    ) -> int:
        self.count += 1
        raw = email_bytes(subject, message_id=f"<m{self.count}@example.com>")
        self.ledger.ingest(InboundItem("inbox", f"k{self.count}", raw))
        (claimed,) = self.ledger.claim("w1", 1)
        triage = {"decision": decision, "reason": reason, "priority": priority, "summary": subject}
        lineage = LINEAGE if rule is None else replace(LINEAGE, model=NO_MODEL, pre_rule=rule)
        assert self.ledger.complete(claimed.id, "w1", state, triage, lineage)
        return claimed.id


def decided(engine: Engine, clock: FrozenClock, settings: Settings) -> Decided:
    return Decided(engine, clock, settings)


def test_notify_items_wait_unread_in_the_inbox_until_read(
    cli: CommandLine, engine: Engine, clock: FrozenClock, settings: Settings
) -> None:
    items = decided(engine, clock, settings)
    first = items.item("notify", "Invoice paid", reason="your invoice was paid", priority="high")
    second = items.item("notify", "Build green")
    items.item("ignore", "Weekly digest")
    items.item("act", "Meet Friday?", state=ItemState.AWAITING_APPROVAL)

    code, inbox = cli.json("items", "inbox")
    assert code == 0
    assert [(row["item_id"], row["review"]) for row in inbox] == [
        (second, "unread"),
        (first, "unread"),
    ]
    assert inbox[1]["reason"] == "your invoice was paid" and inbox[1]["priority"] == "high"
    assert inbox[1]["sender"] == "Dana <dana@example.com>" and inbox[1]["pre_rule"] is None

    code, read = cli.json("items", "read", str(first))
    assert (code, read) == (0, [{"id": first, "ok": True, "reason": None}])
    code, unread = cli.json("items", "inbox", "--unread")
    assert [row["item_id"] for row in unread] == [second]
    code, inbox = cli.json("items", "inbox")
    assert {row["item_id"]: row["review"] for row in inbox}[first] == "read"
    assert inbox[1]["reviewed_at"] is not None

    code, out = cli.run("items", "read", str(first), str(first + 2))  # again; an ignore
    assert code == 4
    assert f"item {first} read" in out
    assert f"item {first + 2}: not a notify item (unreviewed)" in " ".join(out.split())


def test_ignore_decisions_are_listed_since_a_time_and_confirmed(
    cli: CommandLine, engine: Engine, clock: FrozenClock, settings: Settings
) -> None:
    items = decided(engine, clock, settings)
    old = items.item("ignore", "Old newsletter")
    clock.advance(days=3)
    recent = items.item("ignore", "Spam offer", reason="an unsolicited offer")

    code, ignored = cli.json("items", "ignored")
    assert [row["item_id"] for row in ignored] == [recent, old]
    code, ignored = cli.json("items", "ignored", "--since", "2d")
    assert [(row["item_id"], row["review"]) for row in ignored] == [(recent, "unreviewed")]
    since = (clock.now() - timedelta(days=4)).date().isoformat()
    code, ignored = cli.json("items", "ignored", "--since", since)
    assert len(ignored) == 2

    code, confirmed = cli.json("items", "confirm", str(old), str(recent))
    assert code == 0 and all(row["ok"] for row in confirmed)
    code, ignored = cli.json("items", "ignored")
    assert {row["review"] for row in ignored} == {"confirmed"}
    code, out = cli.run("items", "ignored")
    assert "unsolicited" in out and "confirmed" in out


def test_overturning_an_ignore_queues_the_item_again_with_the_users_words(
    cli: CommandLine, engine: Engine, clock: FrozenClock, settings: Settings
) -> None:
    items = decided(engine, clock, settings)
    ignored = items.item("ignore", "Quote request", reason="looks like marketing")
    notify = items.item("notify", "FYI")

    code, out = cli.run("items", "overturn", str(ignored), "--reason", "A customer: answer her")
    assert code == 0
    assert "queued to run again" in out and "memory reflection will learn" in out
    item = items.ledger.get(ignored)
    assert (item.state, item.attempts, item.review) == (ItemState.NEW, 0, Review.OVERTURNED)
    (claimed,) = items.ledger.claim("w1", 1)  # the worker takes it with the user's request
    assert claimed.id == ignored and claimed.overturn is not None
    assert claimed.overturn.note == "A customer: answer her"
    assert (claimed.overturn.decision, claimed.overturn.reason) == (
        "ignore",
        "looks like marketing",
    )

    code, listed = cli.json("items", "ignored")
    assert listed[0]["review"] == "overturned" and listed[0]["note"] == "A customer: answer her"
    assert listed[0]["decision"] == "ignore" and listed[0]["state"] == "processing"
    code, out = cli.run("items", "overturn", str(ignored))
    assert code == 4 and "only an ignore decision can be overturned" in out
    code, out = cli.run("items", "overturn", str(notify))
    assert code == 4 and "is unread" in out
    code, out = cli.run("items", "overturn", "999")
    assert code == 3


def test_an_overturned_item_keeps_its_review_when_it_runs_again(
    engine: Engine, clock: FrozenClock, settings: Settings
) -> None:
    items = decided(engine, clock, settings)
    item_id = items.item("ignore", "Quote request")
    ItemReview(engine, clock).overturn(item_id, "")
    (claimed,) = items.ledger.claim("w1", 1)
    items.ledger.complete(claimed.id, "w1", ItemState.DONE, {"decision": "notify"})
    assert items.ledger.get(item_id).review == Review.OVERTURNED  # not offered as a new notify


def test_items_the_agent_acted_on_or_duplicates_wait_for_no_review(
    engine: Engine, clock: FrozenClock, settings: Settings
) -> None:
    items = decided(engine, clock, settings)
    acted = items.item("act", state=ItemState.AWAITING_APPROVAL)
    raw = email_bytes("Again", message_id="<m1@example.com>")  # the first item's Message-ID
    duplicate = items.ledger.ingest(InboundItem("other", "dup", raw)).item_id
    assert items.ledger.get(duplicate).state == ItemState.DONE
    assert items.ledger.get(acted).review is None and items.ledger.get(duplicate).review is None
    reviews = ItemReview(engine, clock)
    assert reviews.inbox() == [] and reviews.ignored() == []


def test_status_counts_unread_notify_items_and_unreviewed_ignores(
    cli: CommandLine, engine: Engine, clock: FrozenClock, settings: Settings
) -> None:
    items = decided(engine, clock, settings)
    for _ in range(3):
        items.item("notify")
    read = items.item("notify")
    items.item("ignore")
    ItemReview(engine, clock).read([read])

    code, status = cli.json("status")
    assert status["review"] == {"unread": 3, "unreviewed": 1}
    code, out = cli.run("status")
    assert "to read: 3 notify item(s)" in out and "to review: 1 ignored" in out


def test_an_item_a_pre_rule_ignored_names_the_rule_and_says_where_to_change_it(
    cli: CommandLine, engine: Engine, clock: FrozenClock, settings: Settings
) -> None:
    items = decided(engine, clock, settings)
    item_id = items.item(
        "ignore", "Digest #4", reason="pre-rule bulk: bulk or list mail", rule="bulk"
    )

    code, ignored = cli.json("items", "ignored")
    assert ignored[0]["pre_rule"] == "bulk"
    code, out = cli.run("items", "ignored")
    assert "rule bulk" in out
    code, out = cli.run("items", "overturn", str(item_id))
    assert code == 0
    assert "the pre-rule 'bulk' ignored it" in " ".join(out.split())
    assert items.ledger.get(item_id).review == Review.OVERTURNED
