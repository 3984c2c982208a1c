"""What an alert is and what a channel does with it.

An :class:`Alert` is one batched message: "2 drafts and 1 question wait for you", with a line
per waiting thing. Channels (desktop over D-Bus, a command hook, an HTTP POST, the digest email)
deliver it; a channel that fails raises :class:`AlertChannelError` and the dispatcher logs it
and goes on with the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Urgency = Literal["low", "normal", "critical"]


class AlertChannelError(Exception):
    """A channel could not deliver an alert; the message says which and why (no secrets)."""


@dataclass(frozen=True)
class Alert:
    title: str  # one line, e.g. "ambient: 2 drafts and 1 question wait for you"
    lines: tuple[str, ...]  # one per waiting thing: kind, sender, subject (never a body, unless
    # the user configured bodies: then the channel-independent text is already in the lines)
    urgency: Urgency = "normal"
    count: int = 0  # how many waiting things the alert covers
    approval_ids: tuple[int, ...] = ()
    item_ids: tuple[int, ...] = ()
    tags: tuple[str, ...] = field(default=())  # e.g. ("draft", "question", "notify")

    @property
    def body(self) -> str:
        return "\n".join(self.lines)

    def as_json(self) -> dict[str, object]:
        """The alert as a command hook reads it on stdin (stable keys)."""
        return {
            "title": self.title,
            "body": self.body,
            "lines": list(self.lines),
            "urgency": self.urgency,
            "count": self.count,
            "approval_ids": list(self.approval_ids),
            "item_ids": list(self.item_ids),
            "tags": list(self.tags),
        }


class Channel(Protocol):
    """One way to reach the user."""

    name: str  # "desktop", "command", "http", "digest"

    async def send(self, alert: Alert) -> None:
        """Deliver the alert or raise AlertChannelError."""
        ...
