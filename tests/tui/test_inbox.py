"""The review screen (v): the inbox of notify items, where r marks one read, and the ignore
decisions (2), where c confirms and o overturns with the user's words; the status bar counts
what waits; an item a pre-rule decided shows the rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ambient.core.items import InboundItem, ItemState, Review
from ambient.core.lineage import NO_MODEL, Lineage
from ambient.tui.app import AmbientApp
from ambient.tui.screens.inbox import ReviewScreen
from ambient.tui.screens.prompt import TextPrompt
from ambient.tui.screens.queue import QueueScreen
from ambient.tui.widgets.row_list import RowList
from tests.tui.conftest import (
    DaemonStandIn,
    email_bytes,
    notified,
    screen_text,
    squeezed,
    type_text,
    wait_for,
)

LINEAGE = Lineage(model="test", prompt_version="p", memory_commit="none", policy_version="v")


def decided(
    daemon: DaemonStandIn,
    decision: str,
    subject: str,
    reason: str,
    *,
    rule: str | None = None,
    sender: str = "Alice Example <alice@example.com>",
) -> int:
    """An item as the worker leaves it when the triage is `decision` (by `rule`, if given)."""
    raw = email_bytes(subject=subject, sender=sender, message_id=f"<{abs(hash(subject))}@x>")
    item_id = daemon.ledger.ingest(InboundItem("inbox", subject, raw)).item_id
    (claimed,) = daemon.ledger.claim("test-daemon", 1)
    triage = {"decision": decision, "reason": reason, "priority": "normal", "summary": subject}
    lineage = replace(LINEAGE, model=NO_MODEL, pre_rule=rule) if rule else LINEAGE
    daemon.ledger.complete(claimed.id, "test-daemon", ItemState.DONE, triage, lineage)
    return item_id


def review_loaded(app: AmbientApp) -> bool:
    return isinstance(app.screen, ReviewScreen) and app.screen.loaded


def rows(app: AmbientApp) -> list[int]:
    return [row.key for row in app.screen.query_one("#review-list", RowList).rows]


async def test_v_opens_the_inbox_where_r_marks_the_highlighted_item_read(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    older = decided(daemon, "notify", "Invoice 42 paid", "your invoice was paid")
    newer = decided(daemon, "notify", "Build is green", "the release build passed")
    decided(daemon, "ignore", "Weekly digest", "a newsletter")
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("v")
        await wait_for(pilot, lambda: review_loaded(app) and rows(app) == [newer, older])
        await wait_for(pilot, lambda: "the release build passed" in screen_text(app))
        text = screen_text(app)
        assert "1 Inbox (2 unread)" in text and "2 Ignored (1 to review)" in text
        assert "Decided by: the model" in text and "From: Alice Example" in text
        lines = squeezed(text)
        assert any(line.startswith("▸ unread Alice Example") for line in lines)

        await pilot.press("r")
        await wait_for(pilot, notified(app, f"item {newer} read"))
        assert daemon.ledger.get(newer).review == Review.READ
        await wait_for(pilot, lambda: "1 Inbox (1 unread)" in screen_text(app))
        assert "c Confirm" not in screen_text(app)  # the ignored list's keys are not offered
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))


async def test_on_the_ignored_list_c_confirms_and_o_overturns_with_the_users_words(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    spam = decided(daemon, "ignore", "Cheap watches", "unsolicited advertising")
    quote = decided(daemon, "ignore", "Quote for 40 chairs?", "looks like marketing")
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("v", "2")
        await wait_for(pilot, lambda: review_loaded(app) and rows(app) == [quote, spam])
        await wait_for(pilot, lambda: "looks like marketing" in screen_text(app))

        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt))
        await type_text(pilot, "a customer: send the quote on Monday")
        await pilot.press("enter")
        await wait_for(pilot, notified(app, f"item {quote} runs again"))
        item = daemon.ledger.get(quote)
        assert (item.state, item.review) == (ItemState.NEW, Review.OVERTURNED)
        await wait_for(pilot, lambda: "Your words: a customer: send the quote" in screen_text(app))

        await pilot.press("down", "c")
        await wait_for(pilot, notified(app, f"item {spam} confirmed"))
        assert daemon.ledger.get(spam).review == Review.CONFIRMED
        await wait_for(pilot, lambda: "2 Ignored " in screen_text(app))
        assert "to review" not in screen_text(app).splitlines()[0]


async def test_an_item_a_pre_rule_decided_shows_the_rule(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    decided(daemon, "ignore", "Digest #4", "pre-rule bulk: bulk or list mail", rule="bulk")
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("v", "2")
        await wait_for(pilot, lambda: "Decided by: pre-rule bulk (no model)" in screen_text(app))
        row = next(line for line in squeezed(screen_text(app)) if line.startswith("▸"))
        assert row.startswith("▸ unreviewed Alice Example") and " rule " in row


async def test_the_status_bar_counts_what_is_to_read_and_to_review_within_80_columns(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    for number in range(3):
        decided(daemon, "notify", f"Notice {number}", "worth a look")
    decided(daemon, "ignore", "Digest", "a newsletter")
    daemon.poll("inbox")
    daemon.beat()
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "to review" in screen_text(app))
        status = screen_text(app).splitlines()[0]
        assert "0 to decide · 3 to read · 1 to review" in status
        assert len(status) <= 80 and "…" not in status
