"""Where a draft's words came from: who sent the message, and what the draft copied verbatim.

The policy gate's rules on copied text (``private_memory_in_draft``, ``copied_from_message``)
and on the reply's addressee (``reply_to_mismatch``) need facts the action's arguments do not
hold. :func:`trace_provenance` gathers them once, when a draft is queued, from the
:class:`~ambient.approvals.drafts.ActionContext` the agent hands in; the result is kept on the
approval row, so every later check (an edit, an undo, the outbox before it runs) sees the same.

Only the copied passages are kept, never the memory or the message they came from: each is a
stretch of the draft itself. Texts are compared deterministically after dropping quote markers
(``>`` at the start of a line) and folding every run of whitespace into one space; a passage is
a stretch of the draft in which every window of ``min_chars`` characters occurs in a source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ambient.approvals.drafts import ActionContext

MEMORY_PASSAGE_CHARS = 40  # private_memory_in_draft: this much of a memory passage, verbatim
MESSAGE_PASSAGE_CHARS = 80  # copied_from_message: this much of the incoming message, verbatim
EXCERPT_CHARS = 60

_QUOTE_MARKERS = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)


def normalized(text: str) -> str:
    """The text without quote markers, each run of whitespace one space."""
    return " ".join(_QUOTE_MARKERS.sub("", text).split())


def shared_passages(texts: Iterable[str], sources: Iterable[str], min_chars: int) -> list[str]:
    """The stretches of `texts` (normalized) whose every `min_chars` window is in a source."""
    drafts = [draft for draft in (normalized(text) for text in texts) if len(draft) >= min_chars]
    if not drafts:
        return []
    windows: dict[str, list[tuple[int, int]]] = {}
    for number, draft in enumerate(drafts):
        for start in range(len(draft) - min_chars + 1):
            windows.setdefault(draft[start : start + min_chars], []).append((number, start))
    found = [bytearray(len(draft) - min_chars + 1) for draft in drafts]
    for source in sources:
        text = normalized(source)
        for start in range(len(text) - min_chars + 1):
            for number, at in windows.pop(text[start : start + min_chars], ()):
                found[number][at] = 1
            if not windows:
                break
    passages: list[str] = []
    for draft, marks in zip(drafts, found, strict=True):
        run_start: int | None = None  # the first window of the current run of found ones
        for at, mark in enumerate([*marks, 0]):
            if mark and run_start is None:
                run_start = at
            elif not mark and run_start is not None:
                passages.append(draft[run_start : at - 1 + min_chars].strip())
                run_start = None
    return passages


def excerpt(passage: str) -> str:
    """A passage as a finding quotes it: the start of it, in quotes."""
    if len(passage) <= EXCERPT_CHARS:
        return f'"{passage}"'
    return f'"{passage[:EXCERPT_CHARS].rstrip()}…"'


@dataclass(frozen=True)
class Provenance:
    """What the gate knows about a draft beyond its arguments (empty: nothing known)."""

    sender: str = ""  # the message's From address, lower-case
    reply_to: tuple[str, ...] = ()  # the message's Reply-To addresses, lower-case
    memory_passages: tuple[str, ...] = ()  # the draft's text found verbatim in memory it read
    message_passages: tuple[str, ...] = ()  # the draft's text copied from the message

    def dumps(self) -> str:
        return json.dumps(
            {
                "sender": self.sender,
                "reply_to": list(self.reply_to),
                "memory_passages": list(self.memory_passages),
                "message_passages": list(self.message_passages),
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    @classmethod
    def loads(cls, text: str | None) -> Provenance:
        value = json.loads(text or "{}")
        return cls(
            sender=str(value.get("sender", "")),
            reply_to=tuple(value.get("reply_to", ())),
            memory_passages=tuple(value.get("memory_passages", ())),
            message_passages=tuple(value.get("message_passages", ())),
        )


def trace_provenance(texts: Sequence[str], context: ActionContext) -> Provenance:
    """The provenance of one draft, from the item and the memory text its run read; `texts`
    are what the draft sends to others (its kind's ``outgoing_texts``: an email's subject and
    body; none for a note)."""
    memory: Sequence[str] = ()
    message: Sequence[str] = ()
    if texts:
        memory = shared_passages(texts, context.memory_read, MEMORY_PASSAGE_CHARS)
        message = shared_passages(texts, [context.message_text], MESSAGE_PASSAGE_CHARS)
    return Provenance(
        sender=context.sender_address.lower(),
        reply_to=tuple(sorted(address.lower() for address in context.reply_to)),
        memory_passages=tuple(memory),
        message_passages=tuple(message),
    )
