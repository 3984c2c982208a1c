"""The user's writing style, from what they wrote in their sent mail: counted, never guessed.

Deterministic and explainable: no model, so it works offline and in tests, and every line it
writes can be checked against the mail. Each message's own text (no quotes, no history, no
signature: :func:`ambient.core.quoting.own_text`) is measured (``ambient.memory.style_measure``:
greeting, sign-off, length, formality cues, language, phrases); across the messages, lengths are
medians, and the rest is reported only when enough messages share it: at least
:data:`MIN_PERCENT` % of them and at least :data:`MIN_MESSAGES`.

Privacy: the result goes into memory, which goes into every prompt (perhaps to a hosted model)
and into the memory folder's git history for good. So it never holds a sentence of anyone's
mail: only greetings and sign-offs (names replaced), counts and shares, and short phrases (at
most four words, no names, numbers or addresses) that recur across many messages, which makes
them the user's habits rather than the content of any one message.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ambient.memory.style_measure import MessageShape, measure

MIN_PERCENT = 30  # of the messages, for anything to be reported
MIN_MESSAGES = 3
MAX_PHRASES = 5


@dataclass(frozen=True)
class Written:
    """What the user wrote in one message, and when."""

    text: str
    date: datetime | None


@dataclass(frozen=True)
class Share:
    """`count` of `total` messages have this (a greeting, a phrase, a cue)."""

    text: str
    count: int
    total: int

    @property
    def percent(self) -> int:
        """Rounded half up."""
        return (200 * self.count + self.total) // (2 * self.total) if self.total else 0


@dataclass(frozen=True)
class StyleReport:
    messages: int  # those with text of the user's own
    first: date | None
    last: date | None
    greetings: tuple[Share, ...]  # "": no greeting
    sign_offs: tuple[Share, ...]  # "": no sign-off
    name_after_sign_off: Share | None
    median_words: int
    median_sentences: int
    contractions: Share
    exclamations: Share
    emoji: Share
    languages: tuple[Share, ...]
    phrases: tuple[Share, ...]

    def as_json(self) -> dict[str, Any]:
        def counted(share: Share | None) -> dict[str, int] | None:
            return {"count": share.count, "percent": share.percent} if share else None

        def listed(shares: Sequence[Share]) -> list[dict[str, Any]]:
            return [{"text": share.text, **(counted(share) or {})} for share in shares]

        return {
            "messages": self.messages,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "greetings": listed(self.greetings),
            "sign_offs": listed(self.sign_offs),
            "name_after_sign_off": counted(self.name_after_sign_off),
            "median_words": self.median_words,
            "median_sentences": self.median_sentences,
            "contractions": counted(self.contractions),
            "exclamations": counted(self.exclamations),
            "emoji": counted(self.emoji),
            "languages": listed(self.languages),
            "phrases": listed(self.phrases),
        }


def supported(count: int, total: int) -> bool:
    return count >= MIN_MESSAGES and 100 * count >= MIN_PERCENT * total


def _common(values: Sequence[str | None], total: int) -> tuple[Share, ...]:
    counts = Counter(value for value in values if value is not None)
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    return tuple(Share(text, count, total) for text, count in ranked if supported(count, total))


def _overlap(one: list[str], other: list[str]) -> bool:
    """Whether one phrase holds the other, or they chain ("let me know", "know if you")."""
    short, long = sorted((one, other), key=len)
    holds = any(long[at : at + len(short)] == short for at in range(len(long) - len(short) + 1))
    return holds or any(
        one[-size:] == other[:size] or other[-size:] == one[:size]
        for size in range(1, len(short) + 1)
    )


def _distinct_phrases(shapes: Sequence[MessageShape], total: int) -> tuple[Share, ...]:
    """The most shared phrases, longest first among equals, none overlapping another."""
    counts = Counter(phrase for shape in shapes for phrase in shape.phrases)
    ranked = sorted(
        (pair for pair in counts.items() if supported(pair[1], total)),
        key=lambda pair: (-pair[1], -len(pair[0].split()), pair[0]),
    )
    chosen: list[Share] = []
    for phrase, count in ranked:
        if len(chosen) == MAX_PHRASES:
            break
        if not any(_overlap(phrase.split(), share.text.split()) for share in chosen):
            chosen.append(Share(phrase, count, total))
    return tuple(chosen)


def _median(values: Sequence[int]) -> int:
    return math.floor(statistics.median(values) + 0.5) if values else 0


def analyse(written: Sequence[Written]) -> StyleReport:
    """The style of these messages; those without text of the user's own are left out."""
    kept = [message for message in written if message.text.strip()]
    shapes = [measure(message.text) for message in kept]
    total = len(shapes)
    dates = sorted(message.date.date() for message in kept if message.date is not None)
    named = sum(1 for shape in shapes if shape.name_after)
    return StyleReport(
        messages=total,
        first=dates[0] if dates else None,
        last=dates[-1] if dates else None,
        greetings=_common([shape.greeting for shape in shapes], total),
        sign_offs=_common([shape.sign_off for shape in shapes], total),
        name_after_sign_off=Share("", named, total) if supported(named, total) else None,
        median_words=_median([shape.words for shape in shapes]),
        median_sentences=_median([shape.sentences for shape in shapes]),
        contractions=Share("", sum(shape.contraction for shape in shapes), total),
        exclamations=Share("", sum(shape.exclamation for shape in shapes), total),
        emoji=Share("", sum(shape.emoji for shape in shapes), total),
        languages=_common([shape.language for shape in shapes], total),
        phrases=_distinct_phrases(shapes, total),
    )


def _listed(shares: Sequence[Share], *, quoted: bool = True) -> str:
    def named(share: Share) -> str:
        return "none" if not share.text else f'"{share.text}"' if quoted else share.text

    return ", ".join(f"{named(share)} ({share.percent}%)" for share in shares)


def describe(report: StyleReport) -> list[str]:
    """The report as memory lines, in the user's voice (the file speaks as "I")."""
    span = ""
    if report.first and report.last:
        span = f", {report.first.isoformat()} to {report.last.isoformat()}"
    lines = [f"- Based on {report.messages} messages I sent{span}."]
    if report.greetings:
        lines.append(f"- Greeting: {_listed(report.greetings)}.")
    if report.sign_offs:
        named = report.name_after_sign_off
        then = f", then my name ({named.percent}%)" if named else ""
        lines.append(f"- Sign-off: {_listed(report.sign_offs)}{then}.")
    lines.append(
        f"- Length: median {report.median_words} words, {report.median_sentences} sentences "
        "(greeting and sign-off aside)."
    )
    lines.append(
        f"- Tone: contractions in {report.contractions.percent}% of messages, exclamation "
        f"marks in {report.exclamations.percent}%, emoji in {report.emoji.percent}%."
    )
    if report.languages:
        lines.append(f"- Language: {_listed(report.languages, quoted=False)}.")
    if report.phrases:
        lines.append(f"- Phrases I often use: {_listed(report.phrases)}.")
    return lines
