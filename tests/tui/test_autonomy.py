"""The autonomy screen (A): each class's level and evidence; reset a class, turn the switch."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ambient.approvals.autonomy_status import Autonomy
from ambient.approvals.tables import Approval
from ambient.core.config import Settings
from ambient.tui.app import AmbientApp
from ambient.tui.screens.autonomy import AutonomyScreen
from ambient.tui.screens.history import HistoryScreen
from ambient.tui.screens.queue import QueueScreen
from ambient.tui.widgets.detail import DetailPane
from tests.tui.conftest import DaemonStandIn, email_bytes, screen_text, squeezed, wait_for

ALICE = "reply_email:alice@example.com"


@pytest.fixture
def earned(daemon: DaemonStandIn, settings: Settings) -> Approval:
    """Autonomy on with a streak of 2; Alice's replies approved twice; a third approved by the
    rule (returned)."""
    settings.autonomy.enabled = True
    settings.autonomy.streak = 2
    for number in range(2):
        row = daemon.draft(raw=email_bytes(message_id=f"<earn-{number}@x>"))
        daemon.queue.approve(row.id, shown_hash=row.shown_hash, actor="tui:tester")
    automatic = daemon.draft(raw=email_bytes(subject="Again?", message_id="<auto@x>"))
    assert automatic.decided_by == f"autonomy:{ALICE}"
    return automatic


def on_autonomy(app: AmbientApp) -> Callable[[], bool]:
    def shown() -> bool:
        return isinstance(app.screen, AutonomyScreen) and app.screen.loaded

    return shown


def level_of(daemon: DaemonStandIn, settings: Settings) -> Callable[[], tuple[str, int]]:
    trust = Autonomy(daemon.engine, daemon.clock, settings)

    def level() -> tuple[str, int]:
        (evidence,) = trust.status().classes
        return evidence.level, evidence.streak

    return level


async def test_capital_a_shows_each_class_and_r_resets_one(
    daemon: DaemonStandIn, settings: Settings, earned: Approval, tui: Callable[..., AmbientApp]
) -> None:
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("A")
        await wait_for(pilot, on_autonomy(app))
        lines = squeezed(screen_text(app))
        assert f"▸ {ALICE} autonomous 2/2 - now" in lines, lines
        assert "autonomy is on for the kinds safe by default" in " ".join(lines)
        assert "approved by rule 1" in screen_text(app)
        assert "2 approvals in a row without an edit" in screen_text(app)

        await pilot.press("r")
        await wait_for(pilot, lambda: f"Reset {ALICE}?" in screen_text(app))
        await pilot.press("y")
        current = level_of(daemon, settings)
        await wait_for(pilot, lambda: current() == ("learning", 0))
        await wait_for(pilot, lambda: "reset by tui:tester" in screen_text(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))


async def test_o_turns_the_kill_switch_off_and_on(
    daemon: DaemonStandIn, settings: Settings, earned: Approval, tui: Callable[..., AmbientApp]
) -> None:
    trust = Autonomy(daemon.engine, daemon.clock, settings)
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("A")
        await wait_for(pilot, on_autonomy(app))
        await pilot.press("o")
        await wait_for(pilot, lambda: "Turn autonomy off?" in screen_text(app))
        await pilot.press("y")
        await wait_for(pilot, lambda: not trust.status().switched_on)
        await wait_for(pilot, lambda: "autonomy is switched off" in screen_text(app))
        held = daemon.draft(raw=email_bytes(subject="Held?", message_id="<held@x>"))
        assert held.status.value == "pending"
        await pilot.press("o")
        await wait_for(pilot, lambda: "Turn autonomy back on?" in screen_text(app))
        await pilot.press("y")
        await wait_for(pilot, lambda: trust.status().switched_on)


async def test_the_history_says_the_rule_approved_it(
    earned: Approval, tui: Callable[..., AmbientApp]
) -> None:
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded)

        def shows_the_rules_approval() -> bool:
            view = app.screen.query_one(DetailPane).view
            return view is not None and view.id == earned.id

        await wait_for(pilot, shows_the_rules_approval)
        text = " ".join(squeezed(screen_text(app)))
        assert f"approved by autonomy:{ALICE}" in text
        assert squeezed(screen_text(app))[2].startswith("▸ approved auto reply alice@")
