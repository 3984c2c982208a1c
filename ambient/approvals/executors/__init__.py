"""Executors run an approved action's arguments as they are: no model call, exactly once.

Each is idempotent by the approval's idempotency key, so the outbox may call it again after a
crash; each action kind's module (``ambient.approvals.kinds``) builds its executor and says how
(SMTP records a durable delivery stage and uses a Message-ID derived from the key; notes leave a
marker file; webhooks send the key as the ``Idempotency-Key`` header; an MCP call keeps the
delivery stage too, ``mcp``; a mailbox action looks at the message first, and a move keeps the
delivery stage, ``mailbox``). Here: what every executor shares, the SMTP delivery both email
kinds use (``smtp``, ``mail``), the MCP call (``mcp``) and the mailbox kinds' (``mailbox``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ambient.approvals.tables import Approval


@dataclass(frozen=True)
class ExecutionResult:
    summary: str  # one line for `ambient log` and the TUI
    details: dict[str, Any] = field(default_factory=dict)


class ExecutionError(Exception):
    """This try failed; the outbox retries with backoff (dead after N tries)."""


class PermanentExecutionError(ExecutionError):
    """Retrying cannot help (refused by the server, invalid configuration): dead at once."""


class DeliveryUncertain(PermanentExecutionError):
    """It may or may not have happened; ambient will not repeat it on its own."""


class Executor(Protocol):
    async def execute(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        """Run the approval's effective arguments; idempotent by the key."""
        ...
