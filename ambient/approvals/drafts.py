"""What the agent hands the approvals queue: drafted actions and the context they came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DraftedAction:
    """One deferred tool call: the tool's name, its call id, its arguments, and why."""

    kind: str
    tool_call_id: str
    args: dict[str, Any]
    rationale: str


@dataclass(frozen=True)
class ActionContext:
    """The item the drafts came from.

    ``thread_addresses`` are every address that took part in the item's thread (the reply
    policy's allow-set); ``item_version`` identifies the item's content and thread position
    (e.g. item id + content digest), so a decision is bound to the version the human saw.
    """

    item_id: int
    thread_addresses: frozenset[str]
    item_version: str
