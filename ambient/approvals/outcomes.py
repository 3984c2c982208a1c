"""What each outcome of running an action does to its row (inside the outbox's transaction).

Each function sets the row's status and returns the audit event and its details.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ambient.approvals.decisions import refresh_hash
from ambient.approvals.executors import ExecutionResult
from ambient.approvals.shown import canonical_json
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import OutboxSettings
from ambient.core.processing import describe_error

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 4000

Outcome = Callable[[Approval, datetime], tuple[str, dict[str, Any]]]
"""Sets a held row's outcome; returns the audit event and its details."""


def error_text(error: BaseException) -> str:
    return describe_error(error)[:MAX_ERROR_CHARS]


def backoff(settings: OutboxSettings, attempts: int) -> timedelta:
    seconds = settings.backoff_seconds * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, settings.backoff_max_seconds))


def executed(result: ExecutionResult) -> Outcome:
    def outcome(row: Approval, now: datetime) -> tuple[str, dict[str, Any]]:
        row.status = ApprovalStatus.EXECUTED
        row.executed_at = now
        row.result_json = canonical_json({"summary": result.summary, **result.details})
        row.last_error = None
        row.next_attempt_at = None
        log.info("executed approval=%s: %s", row.id, result.summary)
        return "executed", {
            "kind": row.kind,
            "args": row.effective_args,
            "summary": result.summary,
            "result": result.details,
            "attempt": row.attempts,
        }

    return outcome


def failed(settings: OutboxSettings, error: BaseException, *, permanent: bool) -> Outcome:
    """Retry later with backoff, or dead (a permanent error, or the last try)."""
    message = error_text(error)

    def outcome(row: Approval, now: datetime) -> tuple[str, dict[str, Any]]:
        row.last_error = message
        if permanent or row.attempts >= settings.max_attempts:
            row.status = ApprovalStatus.DEAD
            row.next_attempt_at = None
            log.error("approval=%s dead after %s attempt(s): %s", row.id, row.attempts, message)
        else:
            row.status = ApprovalStatus.FAILED
            row.next_attempt_at = now + backoff(settings, row.attempts)
            log.warning(
                "approval=%s failed (attempt %s, retry at %s): %s",
                row.id,
                row.attempts,
                row.next_attempt_at.isoformat(),
                message,
            )
        details = {"error": message, "attempt": row.attempts, "retry_at": row.next_attempt_at}
        return row.status.value, details

    return outcome


def blocked(reason: str) -> Outcome:
    """The gate refused it right before running: back to the human, with a fresh hash."""

    def outcome(row: Approval, now: datetime) -> tuple[str, dict[str, Any]]:
        row.status = ApprovalStatus.BLOCKED
        row.block_reason = f"at execution: {reason}"
        row.stale_reason = "the policy gate refused it right before it ran"
        row.review_round += 1
        row.queued_at = now
        row.attempts = 0
        refresh_hash(row)
        log.warning("approval=%s blocked at execution: %s", row.id, reason)
        return "blocked", {"block_reason": row.block_reason}

    return outcome


def crashed_too_often(row: Approval, now: datetime) -> tuple[str, dict[str, Any]]:
    """The process running it died on every try: stop, and let the human look."""
    row.status = ApprovalStatus.DEAD
    row.last_error = (
        f"ambient stopped {row.attempts} times while running it; check whether it "
        f"happened, then `ambient approvals retry {row.id}` to run it again"
    )
    log.error("approval=%s dead: %s", row.id, row.last_error)
    return "dead", {"error": row.last_error, "attempt": row.attempts}
