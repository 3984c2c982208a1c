"""The hash of exactly what a human is shown, so a decision is bound to what they saw."""

from __future__ import annotations

import json
from typing import Any

from ambient.approvals.tables import Approval
from ambient.core.diffs import sha256_text


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def shown_payload(approval: Approval) -> dict[str, Any]:
    """What the TUI and `ambient approvals show` display for a decision.

    The review round changes whenever the row is re-queued (stale or expired), so a decision
    made on what was shown before the re-queue no longer matches.
    """
    return {
        "kind": approval.kind,
        "args": approval.effective_args,
        "item_version": approval.item_version,
        "round": approval.review_round,
    }


def compute_shown_hash(approval: Approval) -> str:
    return sha256_text(canonical_json(shown_payload(approval)))
