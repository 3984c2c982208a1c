"""How far a replayed run agrees with what the human decided on the same item, step by step.

Per item: the **triage** (the replay's decision equals the one the item ended with); the
**action kinds** (the replay drafted the same kinds, as many of each, as the human approved);
the **recipients** (each approved action that writes to someone was drafted to exactly the same
addresses; only for items with such an action); the **draft text** (difflib's
``SequenceMatcher.ratio()`` of the replay's body to the body the human approved, after their
edits: 1.0 is the same text, a missing draft 0.0; the mean over the item's approved actions
that have a body); and the drafts the human **rejected** (or ignored) that the replay would
still draft, by kind. Drafts are paired with the approved actions first (same kind, closest
text), so a second draft of a kind only counts against a rejected one.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ambient.approvals.kinds import KINDS
from ambient.evals.dataset import ExpectedAction, ExpectedOutput

NOT_WANTED = ("rejected", "ignored")  # declined outright; feedback asked for a better draft


@dataclass(frozen=True)
class ReplayedAction:
    """One action the replay drafted: its kind and its arguments (nothing was queued)."""

    kind: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class DraftPair:
    """An approved action and the replay's draft of the same kind (None: not drafted)."""

    kind: str
    arguments: dict[str, Any]  # what the human approved (their edit if any)
    approved_text: str | None
    drafted_text: str | None
    drafted: dict[str, Any] | None
    similarity: float | None  # None: the kind has no body to compare


@dataclass(frozen=True)
class Agreement:
    """One item under one setup; None: the measure does not apply to the item."""

    triage: bool | None
    kinds: bool
    recipients: bool | None
    similarity: float | None
    rejected: int  # drafts the human rejected or ignored
    still_drafted: int  # of those, how many the replay drafts again
    pairs: tuple[DraftPair, ...] = ()

    @property
    def disagreements(self) -> list[str]:
        """What went wrong, in a few words each (empty: it agrees)."""
        found = []
        if self.triage is False:
            found.append("triage")
        if not self.kinds:
            found.append("action kinds")
        if self.recipients is False:
            found.append("recipients")
        if self.still_drafted:
            found.append("drafts what the human rejected")
        return found


def body_text(kind: str, arguments: dict[str, Any]) -> str | None:
    """The text a draft's similarity is measured on: the kind's body as shown."""
    return KINDS.of(kind).shown_body(arguments)


def similarity(drafted: str, approved: str) -> float:
    """difflib's ratio of two texts, rounded to 4 places (1.0: the same)."""
    return round(difflib.SequenceMatcher(None, drafted, approved, autojunk=False).ratio(), 4)


def recipients(kind: str, arguments: dict[str, Any]) -> set[str]:
    try:
        return KINDS.of(kind).recipients(arguments)
    except (KeyError, TypeError, AttributeError):  # hand-written arguments of another shape
        return set()


def _pair(expected: ExpectedAction, drafts: list[ReplayedAction]) -> DraftPair:
    """Take the draft of the same kind closest to `expected` out of `drafts`."""
    approved_text = body_text(expected.kind, expected.arguments)
    candidates = [draft for draft in drafts if draft.kind == expected.kind]
    if not candidates:
        score = 0.0 if approved_text is not None else None
        return DraftPair(expected.kind, expected.arguments, approved_text, None, None, score)

    def closeness(draft: ReplayedAction) -> float:
        text = body_text(draft.kind, draft.arguments)
        return similarity(text or "", approved_text or "") if approved_text is not None else 0.0

    best = max(candidates, key=closeness)  # the first of equals
    drafts.remove(best)
    drafted_text = body_text(best.kind, best.arguments)
    score = similarity(drafted_text or "", approved_text) if approved_text is not None else None
    return DraftPair(
        expected.kind, expected.arguments, approved_text, drafted_text, best.arguments, score
    )


def compare(
    expected: ExpectedOutput, decision: str | None, drafts: Sequence[ReplayedAction]
) -> Agreement:
    """The replay's triage `decision` and `drafts` against the human's `expected` output."""
    unpaired = list(drafts)
    pairs = tuple(_pair(action, unpaired) for action in expected.actions)
    rejected = [action for action in expected.declined if action.decision in NOT_WANTED]
    still = 0
    for action in rejected:
        again = next((draft for draft in unpaired if draft.kind == action.kind), None)
        if again is not None:
            unpaired.remove(again)
            still += 1
    addressed = [pair for pair in pairs if recipients(pair.kind, pair.arguments)]
    scored = [pair.similarity for pair in pairs if pair.similarity is not None]
    wanted = expected.triage.decision
    return Agreement(
        triage=None if wanted is None else decision == wanted,
        kinds=Counter(d.kind for d in drafts) == Counter(a.kind for a in expected.actions),
        recipients=(
            all(
                pair.drafted is not None
                and recipients(pair.kind, pair.drafted) == recipients(pair.kind, pair.arguments)
                for pair in addressed
            )
            if addressed
            else None
        ),
        similarity=round(sum(scored) / len(scored), 4) if scored else None,
        rejected=len(rejected),
        still_drafted=still,
        pairs=pairs,
    )


def failed(expected: ExpectedOutput) -> Agreement:
    """A replay that did not finish agrees on nothing that applies to the item."""
    empty = compare(expected, None, [])
    return Agreement(
        triage=None if empty.triage is None else False,
        kinds=False,
        recipients=None if empty.recipients is None else False,
        similarity=None if empty.similarity is None else 0.0,
        rejected=empty.rejected,
        still_drafted=0,
        pairs=empty.pairs,
    )
