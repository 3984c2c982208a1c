"""What the screens show, as plain frozen values built off the UI thread.

Screens never touch the database: a worker asks :mod:`ambient.tui.backend` for these values and
hands them to the widgets. Everything here is cheap to compare, so a poll that finds nothing new
changes nothing on screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

KIND_LABELS = {
    "reply_email": "reply",
    "send_email": "send",
    "write_note": "note",
    "call_webhook": "webhook",
    "memory_update": "memory",
}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def concerns(kind: str, args: dict[str, Any]) -> str:
    """Who or what an action concerns, in a few words."""
    if kind in ("reply_email", "send_email"):
        recipients = [str(entry) for entry in args.get("to", []) or []]
        if not recipients:
            return "(no recipient)"
        extra = len(recipients) - 1 + len(args.get("cc", []) or [])
        return recipients[0] + (f" +{extra}" if extra else "")
    if kind == "write_note":
        return str(args.get("path", ""))
    if kind == "call_webhook":
        return urlsplit(str(args.get("url", ""))).netloc or str(args.get("url", ""))
    if kind == "memory_update":
        return str(args.get("file", ""))
    return ""


def summary(kind: str, args: dict[str, Any], fallback: str = "") -> str:
    """One line saying what the action does."""
    if kind in ("reply_email", "send_email"):
        return str(args.get("subject", "")) or _first_line(str(args.get("body", "")))
    if kind == "write_note":
        return _first_line(str(args.get("content", "")))
    if kind == "call_webhook":
        return urlsplit(str(args.get("url", ""))).path or fallback
    if kind == "memory_update":
        return str(args.get("reason", ""))
    return fallback


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows; empty fields match everything."""

    text: str = ""  # in the subject, the sender, the summary
    source: str = ""
    sender: str = ""
    kind: str = ""
    status: str = "pending"

    @property
    def active(self) -> bool:
        return bool(self.text or self.source or self.sender or self.kind) or self.status not in (
            "",
            "pending",
        )

    def describe(self) -> str:
        parts = [f"status={self.status}"] if self.status not in ("", "pending") else []
        parts += [
            f"{name}={value}"
            for name, value in (
                ("text", self.text),
                ("source", self.source),
                ("sender", self.sender),
                ("kind", self.kind),
            )
            if value
        ]
        return " ".join(parts)


@dataclass(frozen=True)
class QueueEntry:
    """One approval in a listing (queue or history)."""

    id: int
    kind: str
    status: str
    concerns: str
    summary: str
    created_at: datetime
    warnings: tuple[str, ...]
    shown_hash: str
    source: str = ""
    sender: str = ""
    priority: str = ""
    decided_at: datetime | None = None
    decision: str = ""
    error: str = ""


@dataclass(frozen=True)
class ItemView:
    """The original item, parsed: headers and text (HTML already turned into text)."""

    id: int
    source: str
    state: str
    headers: tuple[tuple[str, str], ...]
    text: str
    attachments: tuple[str, ...] = ()
    triage: dict[str, Any] | None = None
    problem: str | None = None  # why the bytes could not be read, if they could not


@dataclass(frozen=True)
class ApprovalView:
    """Everything the detail pane shows about one approval; `shown_hash` binds a decision."""

    id: int
    kind: str
    status: str
    args: dict[str, Any]
    rationale: str
    warnings: tuple[str, ...]
    shown_hash: str
    created_at: datetime
    item: ItemView | None
    trace_url: str | None = None
    blocked_reason: str | None = None
    decision: str = ""
    decided_at: datetime | None = None
    decided_by: str = ""
    decision_note: str = ""
    executed_at: datetime | None = None
    result: str = ""
    error: str = ""
    attempts: int = 0
    parent_id: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
