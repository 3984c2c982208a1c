"""What produced a decision: the model, the prompt, the memory, the policy and ambient's version.

Every approval row and every triaged item keeps its :class:`Lineage` as JSON, so a decision can
be explained later and an evaluation can compare like with like. The versions are short hashes
(:func:`version_hash`) of what they name; the memory is its folder's git commit. Rows written
before lineage was recorded have none: they read as "unknown" (:func:`describe_stored`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from ambient import __version__
from ambient.core.diffs import sha256_text

UNKNOWN = "unknown"
VERSION_CHARS = 12  # of a version hash
SHORT_CHARS = 8  # of a hash or a commit, as describe() shows it
EDITS_MARKER = "+edits"  # after a memory commit: the folder had edits not committed yet
NO_MEMORY_COMMIT = "none"  # no git, or no memory history (yet)
NO_MODEL = "none"  # the model of a decision a pre-rule made: no model was called
# A stored lineage (to_json: sorted keys, no spaces) whose pre-rule fired, as a LIKE pattern:
# what the ledger counts items decided without a model by
PRE_RULE_FIRED_LIKE = '%"pre_rule":"%'


def version_hash(value: Any) -> str:
    """A short hash of a JSON-like value, the same for the same value on any machine."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return sha256_text(text)[:VERSION_CHARS]


def _short(version: str) -> str:
    commit, marker, rest = version.partition(EDITS_MARKER)
    return commit[:SHORT_CHARS] + marker + rest


@dataclass(frozen=True)
class Lineage:
    """What produced one decision.

    ``model``: the model string (AMBIENT_MODEL, with its fallback; ``none`` when a pre-rule
    decided); ``prompt_version``: a hash of the fixed instructions, the triage schema and the
    tool schemas; ``memory_commit``: the
    memory folder's git commit, with ``+edits`` when it had uncommitted edits (``none``: no
    history); ``policy_version``: a hash of the effective policy; ``pre_rule``: the name of the
    deterministic pre-rule that decided without the model — None means no pre-rule fired;
    ``examples``: the ids of the past items the run was shown as examples.
    """

    model: str
    prompt_version: str
    memory_commit: str
    policy_version: str
    pre_rule: str | None = None
    examples: tuple[int, ...] = ()
    ambient_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["examples"] = list(self.examples)
        return values

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Lineage:
        """Raises KeyError, TypeError or ValueError when `values` is not a lineage."""
        pre_rule = values.get("pre_rule")
        return cls(
            model=str(values["model"]),
            prompt_version=str(values["prompt_version"]),
            memory_commit=str(values["memory_commit"]),
            policy_version=str(values["policy_version"]),
            pre_rule=None if pre_rule is None else str(pre_rule),
            examples=tuple(int(example) for example in values.get("examples") or ()),
            ambient_version=str(values.get("ambient_version") or UNKNOWN),
        )

    @classmethod
    def from_json(cls, text: str | None) -> Lineage | None:
        """The stored lineage; None (unknown) for a row from before lineage, or unreadable."""
        if not text:
            return None
        try:
            values = json.loads(text)
            return cls.from_dict(values) if isinstance(values, dict) else None
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        """One line for people: ``model M · prompt P · memory C · policy V · ambient X``."""
        made_by, versions = self._parts()
        return " · ".join([made_by[0], *versions, *made_by[1:]])

    def describe_lines(self) -> tuple[str, str]:
        """The same in two shorter lines: who made it (model, ambient, pre-rule, examples),
        then the versions of what it read (prompt, memory, policy)."""
        made_by, versions = self._parts()
        return " · ".join(made_by), " · ".join(versions)

    def _parts(self) -> tuple[list[str], list[str]]:
        made_by = [f"model {self.model}", f"ambient {self.ambient_version}"]
        if self.pre_rule is not None:
            made_by.append(f"pre-rule {self.pre_rule}")
        if self.examples:
            made_by.append("examples " + ",".join(f"#{example}" for example in self.examples))
        versions = [
            f"prompt {self.prompt_version[:SHORT_CHARS]}",
            f"memory {_short(self.memory_commit)}",
            f"policy {self.policy_version[:SHORT_CHARS]}",
        ]
        return made_by, versions


def stored_dict(text: str | None) -> dict[str, Any] | None:
    """A stored lineage for ``--json`` and datasets: its fields, or None when unknown."""
    lineage = Lineage.from_json(text)
    return lineage.to_dict() if lineage is not None else None


def first_stored(*texts: str | None) -> dict[str, Any] | None:
    """The first of several stored lineages that is known (e.g. an item's newest approval's,
    then the item's own), as :func:`stored_dict` gives it."""
    for text in texts:
        found = stored_dict(text)
        if found is not None:
            return found
    return None


def describe_stored(text: str | None) -> str:
    """A stored lineage for people; ``unknown`` for rows from before lineage was recorded."""
    lineage = Lineage.from_json(text)
    return lineage.describe() if lineage is not None else UNKNOWN


def describe_stored_lines(text: str | None) -> tuple[str, ...]:
    """A stored lineage in two lines (:meth:`Lineage.describe_lines`), or ``unknown``."""
    lineage = Lineage.from_json(text)
    return lineage.describe_lines() if lineage is not None else (UNKNOWN,)
