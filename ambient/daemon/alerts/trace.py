"""Each round of alerts as a trace: a root for the round, a step per alert per channel with
its count and outcome. Never the alert's lines (senders, subjects, excerpts): only counts, the
waiting things' ids, and the failure's reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Protocol

from ambient.daemon.alerts.store import Outcome
from ambient.tracing.subjects import ItemRef
from ambient.tracing.tracer import ItemTracer

log = logging.getLogger(__name__)


class AlertTrace(Protocol):
    def record(self, log_ids: Sequence[int], outcomes: Sequence[Outcome]) -> None:
        """The round's outcomes (`log_ids`: their alert log rows); never raises."""
        ...


def alert_trace_id(first_log_id: int) -> str:
    seed = f"ambient-alert:{first_log_id}"
    return hashlib.sha256(seed.encode()).digest()[:16].hex()


class TracedAlerts:
    """Alert rounds on the item tracer, as traces of their own (not of an item)."""

    def __init__(self, tracer: ItemTracer) -> None:
        self.tracer = tracer

    def record(self, log_ids: Sequence[int], outcomes: Sequence[Outcome]) -> None:
        if not outcomes or not log_ids:
            return
        ref = ItemRef(alert_trace_id(log_ids[0]), "alerts", f"alert-{log_ids[0]}", "alert")
        try:
            summary = {"alerts": len(outcomes), "channels": [o.channel for o in outcomes]}
            with self.tracer.item_span(ref, input=summary) as root:
                for log_id, outcome in zip(log_ids, outcomes, strict=False):
                    self.tracer.record_step(
                        ref,
                        f"alert {outcome.channel}",
                        input={
                            "alert_id": log_id,
                            "channel": outcome.channel,
                            "kind": outcome.kind,
                            "count": outcome.count,
                            "things": list(outcome.things[:50]),
                        },
                        output={"ok": outcome.ok},
                        error=outcome.error,
                    )
                failed = sum(not outcome.ok for outcome in outcomes)
                root.update(output={"delivered": len(outcomes) - failed, "failed": failed})
        except Exception:  # noqa: BLE001 - tracing never stops the alerts
            log.exception("alerts %s: not traced", log_ids)
