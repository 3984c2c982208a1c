"""The agent's question in the TUI: an "ask" row, the question as the agent's, n to answer."""

from __future__ import annotations

from collections.abc import Callable

from ambient.tui.app import AmbientApp
from ambient.tui.screens.answer import AnswerPrompt, read_answer
from ambient.tui.screens.queue import QueueScreen
from tests.tui.conftest import (
    DaemonStandIn,
    email_bytes,
    notified,
    screen_text,
    shows_detail,
    squeezed,
    type_text,
    wait_for,
    wait_statuses,
)

QUESTION = "Who is our contact at Northwind?"
NORTHWIND = email_bytes(
    sender="Dana <dana@example.com>",
    subject="Northwind delivery",
    body="Hi,\n\nCould you loop in your contact at Northwind about the delivery?\n\nDana\n",
    message_id="<northwind@x>",
)


def ask(daemon: DaemonStandIn, choices: list[str] | None = None):
    args = {"question": QUESTION, "choices": choices if choices is not None else []}
    return daemon.draft(
        "ask_user", args, raw=NORTHWIND, rationale="the memory names no contact at Northwind"
    )


def footer_shows_answer(app: AmbientApp) -> bool:
    return "n Answer" in " ".join(squeezed(screen_text(app))[-1:])


async def test_a_question_is_listed_as_ask_and_shown_as_the_agents(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    question = ask(daemon, ["Julia Berg", "Tom Reyes"])
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, question.id))
        lines = squeezed(screen_text(app))
        row = next(line for line in lines if line.startswith("▸ ask "))
        assert "you · 2 choices" in row and QUESTION in row
        assert f"Agent asks: {QUESTION}" in lines
        assert "1. Julia Berg" in lines and "2. Tom Reyes" in lines
        assert any("1 to decide" in line for line in lines)  # it waits like a draft
        await wait_for(pilot, lambda: footer_shows_answer(app))


async def test_n_answers_with_a_choice_by_its_number(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    question = ask(daemon, ["Julia Berg", "Tom Reyes"])
    app = tui()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(pilot, shows_detail(app, question.id))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AnswerPrompt))
        prompt = screen_text(app)
        assert f"Answer #{question.id} (a number picks a choice)" in prompt
        assert f"Agent asks: {QUESTION}" in prompt and "2. Tom Reyes" in prompt
        await type_text(pilot, "2")
        await pilot.press("enter")
        await wait_for(pilot, wait_statuses(daemon, [question.id], "feedback"))
        stored = daemon.queue.get(question.id)
        assert stored.decision is not None and stored.decision.value == "answered"
        assert stored.decision_message == "Tom Reyes" and stored.decided_by == "tui:tester"
        await wait_for(pilot, notified(app, f"#{question.id} answered · u: undo"))


async def test_n_answers_in_words_and_escape_answers_nothing(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    question = ask(daemon)
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, question.id))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AnswerPrompt))
        assert "a number picks" not in screen_text(app)  # no choices to pick from
        await pilot.press("escape")
        await pilot.pause()
        assert daemon.status_of(question.id) == "pending"
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AnswerPrompt))
        await type_text(pilot, "Julia Berg, since May")
        await pilot.press("enter")
        await wait_for(pilot, wait_statuses(daemon, [question.id], "feedback"))
        assert daemon.queue.get(question.id).decision_message == "Julia Berg, since May"


async def test_a_question_is_answered_not_approved(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    question = ask(daemon, ["Julia Berg"])
    app = tui()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(pilot, shows_detail(app, question.id))
        footer = squeezed(screen_text(app))[-1]
        assert "n Answer" in footer and "Approve" not in footer and "Feedback" not in footer
        for key in ("a", "e", "f"):  # not offered on a question
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, QueueScreen)  # no prompt, no editor
        assert daemon.status_of(question.id) == "pending"
        # marked for a bulk approval, it is refused with the key that answers it
        await pilot.press("space")
        await pilot.press("a")
        await wait_for(pilot, notified(app, f"#{question.id} is the agent's question: n"))
        assert daemon.status_of(question.id) == "pending"


async def test_the_answer_key_shows_on_questions_only(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    draft = daemon.draft()
    app = tui()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, shows_detail(app, draft.id))
        assert not footer_shows_answer(app)
        await pilot.press("n")  # nothing happens on a draft
        await pilot.pause()
        assert not isinstance(app.screen, AnswerPrompt)
        assert daemon.status_of(draft.id) == "pending"


def test_a_bare_number_picks_a_choice_and_anything_else_is_words() -> None:
    assert read_answer(" 2 ", 3) == (None, 2)
    assert read_answer("4", 3) == ("4", None)  # not one of the choices: the user's words
    assert read_answer("2", 0) == ("2", None)
    assert read_answer("Julia", 3) == ("Julia", None)
