"""A durable record of how far an executor got, committed before and after the point of no
return (SMTP: before DATA and after the server's 250), keyed by the idempotency key."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select

from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.clock import Clock
from ambient.core.db import read_session, write_session

SENDING = "sending"  # the message data is being handed to the server: outcome unknown if cut
SENT = "sent"  # the server accepted it


def delivery_uncertain(row: Approval) -> bool:
    """Dead while the message was being handed over: it may have arrived; only a human knows."""
    return row.status == ApprovalStatus.DEAD and row.delivery_stage == SENDING


class DeliveryJournal:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def stage(self, idempotency_key: str) -> str | None:
        with read_session(self.engine) as session:
            return session.exec(
                select(Approval.delivery_stage).where(Approval.idempotency_key == idempotency_key)
            ).first()

    def mark(self, idempotency_key: str, stage: str | None) -> None:
        with write_session(self.engine) as session:
            row = session.exec(
                select(Approval).where(Approval.idempotency_key == idempotency_key)
            ).first()
            if row is None:
                raise LookupError(f"no approval with idempotency key {idempotency_key}")
            row.delivery_stage = stage
            row.delivery_stage_at = self.clock.now() if stage else None
            session.add(row)

    def clear(self, idempotency_key: str) -> None:
        self.mark(idempotency_key, None)
