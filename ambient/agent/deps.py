"""What one agent run depends on: the item, the user's memory, the settings and the clock."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ambient.agent.triage import Triage
from ambient.core.calendar import CalendarInvite
from ambient.core.clock import Clock
from ambient.core.config import Settings
from ambient.core.message import ParsedMessage, content_digest, parse_message
from ambient.core.review import Overturn
from ambient.memory.store import MemoryStore


def _metadata_message(raw: bytes, metadata: dict[str, Any]) -> ParsedMessage:
    """A non-email item (a spool .json, say) in the shape the prompt reads."""
    sender = str(metadata.get("sender", ""))
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip().lower() if "@" in sender else ""
    text = raw.decode("utf-8", errors="replace")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("body"), str):
        text = document["body"]
    return ParsedMessage(
        subject=str(metadata.get("subject", "")),
        sender=sender,
        sender_address=address,
        to=[],
        cc=[],
        reply_to=[],
        date=None,
        message_id=None,
        in_reply_to=None,
        references=[],
        text=text,
    )


@dataclass(frozen=True)
class AgentItem:
    """The item the agent works on: ids from the ledger plus the parsed message."""

    item_id: int
    trace_id: str
    kind: str
    message: ParsedMessage
    digest: str
    overturn: Overturn | None = None  # the user overturned its ignore: they want action

    @classmethod
    def from_raw(
        cls,
        item_id: int,
        trace_id: str,
        raw: bytes,
        *,
        kind: str = "email",
        metadata: dict[str, Any] | None = None,
        overturn: Overturn | None = None,
    ) -> AgentItem:
        """Parse the stored bytes; raises UnparseableMessage for bytes that are not email."""
        if kind == "email":
            message = parse_message(raw)
        else:
            message = _metadata_message(raw, metadata or {})
        return cls(item_id, trace_id, kind, message, content_digest(raw), overturn)

    @property
    def thread_addresses(self) -> frozenset[str]:
        return frozenset(self.message.thread_addresses)

    @property
    def item_version(self) -> str:
        """The item and the exact content the drafts were made from."""
        return f"{self.item_id}:{self.digest[:16]}"

    @property
    def reply_address(self) -> str:
        """Where a reply goes by default: Reply-To when given, else the sender."""
        return self.message.reply_to[0] if self.message.reply_to else self.message.sender_address

    @property
    def reply_subject(self) -> str:
        subject = self.message.subject.strip()
        if subject.lower().startswith("re:"):
            return subject
        return f"Re: {subject}" if subject else "Re: your message"

    @property
    def calendar(self) -> CalendarInvite | None:
        return self.message.calendar


@dataclass(frozen=True)
class DroppedDraft:
    """An action call whose arguments stayed invalid: not drafted, noted in the triage."""

    kind: str
    reason: str


@dataclass
class AgentDeps:
    """Pydantic AI deps: everything a tool or the instructions may read during one run."""

    item: AgentItem
    memory: MemoryStore
    settings: Settings
    clock: Clock
    memory_budget_tokens: int
    # The past items the prompt shows as examples (see ambient.agent.examples).
    examples: tuple[int, ...] = ()
    # Set by the output validator when the model gave its triage in the same reply as drafts.
    stated_triage: Triage | None = field(default=None)
    # Action calls given up on during the run (see ambient.agent.dropped).
    dropped_drafts: list[DroppedDraft] = field(default_factory=list)
    # Private text the run saw (memory in its prompt, the memory tools' and the MCP servers'
    # read-only tools' results), for the policy gate.
    memory_read: list[str] = field(default_factory=list)

    def saw_memory(self, text: str) -> None:
        """Note memory text the model was shown during this run (each text once)."""
        if text.strip() and text not in self.memory_read:
            self.memory_read.append(text)
