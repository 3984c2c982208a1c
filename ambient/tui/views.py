"""What the screens show, as plain frozen values built off the UI thread.

Screens never touch the database: a worker asks :mod:`ambient.tui.backend` for these values and
hands them to the widgets. Everything here is cheap to compare, so a poll that finds nothing new
changes nothing on screen. How an action of each kind reads (its label, whom it concerns, its
summary, its headers and body) is the kind's to say: see ``ambient.approvals.kinds``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
    decided_by: str = ""  # a human (`tui:…`, `cli:…`) or an earned rule (`autonomy:<class>`)


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
    event: tuple[tuple[str, str], ...] = ()  # a calendar invite's (label, value) lines
    part_problems: tuple[str, ...] = ()  # parts that could not be read ("calendar part …")


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
    lineage: tuple[str, ...] = ("unknown",)  # what produced the draft (core.lineage)
