"""The audit log: every decision and execution, append-only, each row hashing the one before.

An entry is written in the same transaction as the change it records, so the log and the
queue never disagree. ``entry_hash`` = SHA-256 over the previous entry's hash and this entry's
fields; editing or deleting any row breaks the chain from there on, which
:meth:`AuditLog.verify_chain` reports. Appends are serialized (SQLite: BEGIN IMMEDIATE; Postgres:
a transaction-level advisory lock) and ``prev_hash`` is unique, so the chain cannot fork.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from ambient.approvals.models import AuditEntry
from ambient.approvals.shown import canonical_json, sha256_text
from ambient.clock import utc
from ambient.db import read_session

GENESIS_HASH = "0" * 64
_AUDIT_LOCK_KEY = 0x616D6269656E74  # "ambient": one advisory lock for appends on Postgres


def _entry_hash(entry: AuditEntry) -> str:
    fields = [
        entry.prev_hash,
        utc(entry.at).isoformat(timespec="microseconds"),
        entry.actor,
        entry.event,
        entry.approval_id,
        entry.item_id,
        entry.details_json,
    ]
    return sha256_text(canonical_json(fields))


def args_diff(draft: dict[str, Any], approved: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per argument that changed: what the draft said and what was approved."""
    changed: dict[str, dict[str, Any]] = {}
    for key in sorted(set(draft) | set(approved)):
        if draft.get(key) != approved.get(key):
            changed[key] = {"draft": draft.get(key), "approved": approved.get(key)}
    return changed


def append_entry(
    session: Session,
    *,
    at: datetime,
    actor: str,
    event: str,
    approval_id: int | None = None,
    item_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's write transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_AUDIT_LOCK_KEY))  # type: ignore[call-overload]
    last = session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(1)).first()
    entry = AuditEntry(
        at=utc(at),
        actor=actor[:200],
        event=event,
        approval_id=approval_id,
        item_id=item_id,
        details_json=canonical_json(details or {}),
        prev_hash=last.entry_hash if last is not None else GENESIS_HASH,
        entry_hash="",
    )
    entry.entry_hash = _entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    broken_at: int | None = None  # the id of the first entry that does not verify
    problem: str | None = None


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def entries(
        self,
        *,
        approval_id: int | None = None,
        item_id: int | None = None,
        limit: int = 200,
        newest_first: bool = True,
    ) -> list[AuditEntry]:
        order = col(AuditEntry.id).desc() if newest_first else col(AuditEntry.id)
        query = select(AuditEntry).order_by(order).limit(limit)
        if approval_id is not None:
            query = query.where(AuditEntry.approval_id == approval_id)
        if item_id is not None:
            query = query.where(AuditEntry.item_id == item_id)
        with read_session(self.engine) as session:
            return list(session.exec(query))

    def verify_chain(self, batch: int = 1000) -> ChainReport:
        """Walk the whole log in order and recompute every hash."""
        previous = GENESIS_HASH
        checked = 0
        last_id = 0
        with read_session(self.engine) as session:
            while True:
                rows = list(
                    session.exec(
                        select(AuditEntry)
                        .where(col(AuditEntry.id) > last_id)
                        .order_by(col(AuditEntry.id))
                        .limit(batch)
                    )
                )
                if not rows:
                    return ChainReport(True, checked)
                for entry in rows:
                    assert entry.id is not None
                    if entry.prev_hash != previous:
                        return ChainReport(
                            False, checked, entry.id, "does not follow the previous entry"
                        )
                    if _entry_hash(entry) != entry.entry_hash:
                        return ChainReport(False, checked, entry.id, "contents were changed")
                    previous = entry.entry_hash
                    last_id = entry.id
                    checked += 1
