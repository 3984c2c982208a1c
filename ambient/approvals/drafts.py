"""What the agent hands the approvals queue: drafted actions and the context they came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ambient.core.lineage import Lineage


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
    The rest is what the policy gate's provenance rules read (see ``provenance``): the
    message's ``From`` and ``Reply-To`` addresses, its own text, and every piece of the user's
    private text the run read (the memory in its prompt, memory tool results, MCP read-only
    tool results).
    ``lineage``: what produced the drafts (model, prompt, memory, policy); each row keeps it.
    """

    item_id: int
    thread_addresses: frozenset[str]
    item_version: str
    sender_address: str = ""
    reply_to: frozenset[str] = frozenset()
    message_text: str = ""
    memory_read: tuple[str, ...] = ()
    lineage: Lineage | None = None
