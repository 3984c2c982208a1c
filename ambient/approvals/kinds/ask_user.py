"""ask_user: the agent asks the user a question, with optional choices, instead of guessing.

A question waits in the queue like a draft (it holds its item open, goes stale when the thread
gets a newer message, expires as drafts do), but it is answered, never approved: the human's
answer (their own words, or one of the choices by its number) goes back to the paused run as
the result of the agent's call, and the agent drafts with it (see ``ambient.agent.feedback``).
The question is the model's text and is shown as the agent's; the answer is the user's, and
memory reflection may learn from it. Nothing runs: the kind has no executor.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ambient.approvals.kinds.base import ActionArguments, ActionKind, Kind
from ambient.approvals.kinds.text_form import first_line
from ambient.core.errors import DecisionError

MAX_CHOICES = 9  # one digit each, in the TUI's prompt
ANSWER_MAX_CHARS = 2_000


class AskUser(ActionArguments):
    question: str = Field(
        min_length=1, max_length=500, description="One question, in the user's language."
    )
    choices: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=MAX_CHOICES,
        description="Likely answers the user can pick from (up to 9); empty for a free answer.",
    )


class AskUserDraft(AskUser):
    rationale: str = Field(description="Why you need to know, in one sentence.")


class AskUserKind(Kind[AskUser]):
    name = ActionKind.ASK_USER
    label = "ask"
    order = 5
    arguments = AskUser
    draft = AskUserDraft
    description = (
        "Ask the user a question (with choices when a few answers are likely) when neither the "
        "memory nor the message says what you need and the answer changes what you draft. The "
        "run waits; the user's answer comes back as this call's result."
    )
    asks = True

    def choices(self, args: dict[str, Any]) -> list[str]:
        return [str(entry) for entry in args.get("choices") or []]

    def answer(self, args: dict[str, Any], text: str | None, choice: int | None) -> str:
        choices = self.choices(args)
        if choice is not None:
            if text is not None and text.strip():
                raise DecisionError("give the answer as text or as a choice, not both")
            if not 1 <= choice <= len(choices):
                offered = f"1 to {len(choices)}" if choices else "none: answer in words"
                raise DecisionError(f"no choice {choice} (the choices are {offered})")
            return choices[choice - 1]
        answer = (text or "").strip()
        if not answer:
            raise DecisionError("an answer needs words (or a choice's number)")
        if len(answer) > ANSWER_MAX_CHARS:
            raise DecisionError(f"the answer is over {ANSWER_MAX_CHARS} characters")
        return answer

    def answered(self, args: dict[str, Any], answer: str) -> str:
        return f"The user answered your question, in their own words: {answer}"

    def approved(self, args: dict[str, Any]) -> str:
        return f"question {first_line(str(args.get('question', '')))!r}"

    # ---- how it reads --------------------------------------------------------------------
    def concerns(self, args: dict[str, Any]) -> str:
        count = len(self.choices(args))
        return f"you · {count} choices" if count else "you"

    def summary(self, args: dict[str, Any], fallback: str = "") -> str:
        return first_line(str(args.get("question", ""))) or fallback

    def headline(self, args: dict[str, Any]) -> str:
        return f"ask: {self.summary(args)}"

    def shown_headers(self, args: dict[str, Any]) -> list[tuple[str, str]]:
        """The question as the agent's words, never as the user's or the app's."""
        return [("Agent asks", str(args.get("question", "")))]

    def shown_body(self, args: dict[str, Any]) -> str | None:
        """The choices, numbered as the human picks them; None for a free answer."""
        choices = self.choices(args)
        if not choices:
            return None
        lines = [f"  {number}. {choice}" for number, choice in enumerate(choices, start=1)]
        return "Choices (or answer in your own words):\n" + "\n".join(lines) + "\n"


KIND = AskUserKind()
