"""The demo model's reply: a short holding reply naming the subject, redrafted with feedback.

Feedback on a draft is applied to it visibly: "shorter", "more formal", "say …" (the rest
becomes a paragraph of the reply), "don't reply" (no draft, notify); any other feedback becomes
a paragraph of its own. Every feedback of the run is applied, oldest first, so a second round
keeps the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart

from ambient.models.conversation import FEEDBACK_PREFIX
from ambient.models.demo.triage import Email, User, Verdict, clip

_NO_REPLY_FEEDBACK = re.compile(
    r"\b(don'?t|do not|no need to|not) (reply|answer|respond)\b|\bno reply\b", re.I
)
_SHORTER = re.compile(r"\b(short(er)?|brief(er)?|concise|too long)\b", re.I)
_FORMAL = re.compile(r"\b(more )?formal(ly)?\b", re.I)
_SAY = re.compile(
    r"\b(?:say|tell (?!me\b)\w+|mention)\b(?: that)?[:,]?\s+(.+)",
    re.I | re.S,
)


@dataclass
class Letter:
    """A reply's parts; feedback changes them, ``text`` writes them out."""

    email: Email
    user: User
    short: bool = False
    formal: bool = False
    paragraphs: list[str] = field(default_factory=list)

    def apply(self, feedback: str) -> None:
        self.short = self.short or _SHORTER.search(feedback) is not None
        self.formal = self.formal or _FORMAL.search(feedback) is not None
        said = _SAY.search(feedback)
        if said is not None:
            content = _sentence(said.group(1))
        elif _SHORTER.search(feedback) or _FORMAL.search(feedback):
            content = ""  # about the form only
        else:
            content = _sentence(feedback)
        if content:
            self.paragraphs.append(content)

    def text(self) -> str:
        email, user = self.email, self.user
        if self.formal:
            full_name = email.sender_name.strip('"') or email.who
            greeting = f"Dear {full_name},"
            closing = "Kind regards," + (f"\n{user.name}" if user.name else "")
        else:
            greeting = f"Hi {email.first_name}," if email.first_name else "Hi,"
            closing = "Best," + (f"\n{user.first_name}" if user.first_name else "")
        topic = _quoted(email.topic)
        if self.paragraphs and self.short:
            middle = self.paragraphs
        elif self.paragraphs:
            middle = [f"Thanks for your message about {topic}", *self.paragraphs]
        elif self.short:
            middle = [f"Thanks, I'll get back to you about {topic} soon."]
        else:
            middle = [f"Thanks for your message about {topic} I'll get back to you shortly."]
        return "\n\n".join([greeting, *middle, closing]) + "\n"


def _quoted(topic: str) -> str:
    """The subject in quotes, ending a sentence (a subject ending in "?" keeps its own mark)."""
    return f'"{topic}"' + ("" if topic[-1:] in "?!." else ".")


def _sentence(text: str) -> str:
    text = " ".join(text.split()).strip("\"' ")
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."


def reply_args(email: Email, user: User, verdict: Verdict) -> dict[str, object]:
    """The one reply_email call: to the sender (empty ``to``), "Re: …" (empty subject)."""
    rationale = (
        f'{email.first_name or email.who} asks: "{verdict.question}" A holding reply so they '
        "know you saw it; edit it or answer with feedback to change it."
    )
    return {"body": Letter(email, user).text(), "rationale": rationale}


def feedback_text(part: ToolReturnPart) -> str | None:
    """The user's words, when the tool result is feedback on a draft."""
    content = str(part.content)
    if part.outcome != "denied" or not content.startswith(FEEDBACK_PREFIX):
        return None
    return content[len(FEEDBACK_PREFIX) :].split("\nRevise the draft", 1)[0].strip()


def run_feedback(messages: list[ModelMessage], tool_name: str) -> list[str]:
    """Every feedback on this tool's drafts in the run, oldest first."""
    found: list[str] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart) and part.tool_name == tool_name:
                    text = feedback_text(part)
                    if text is not None:
                        found.append(text)
    return found


def revision(
    email: Email, user: User, verdict: Verdict, feedback: list[str]
) -> tuple[Verdict, dict[str, object] | None]:
    """The triage and the revised reply's arguments (None when the user wants no reply)."""
    latest = feedback[-1] if feedback else ""
    said = f'"{clip(latest)}"' if latest else "(no words)"
    if latest and _NO_REPLY_FEEDBACK.search(latest):
        reason = f"You asked for no reply: {said}. Left for you to read."
        return Verdict("notify", reason, verdict.priority, verdict.summary), None
    letter = Letter(email, user)
    for text in feedback:
        letter.apply(text)
    reason = f"The reply, revised after your feedback: {said}."
    args: dict[str, object] = {
        "body": letter.text(),
        "rationale": f"Revised after your feedback: {said}.",
    }
    return Verdict("act", reason, verdict.priority, verdict.summary, verdict.question), args
