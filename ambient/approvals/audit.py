"""The audit log: every decision and execution, append-only, each row hashing the one before.

An entry is written in the same transaction as the change it records, so the log and the
queue never disagree. ``entry_hash`` = SHA-256 over the previous entry's hash and this entry's
fields; editing or deleting any row breaks the chain from there on, which
:meth:`AuditLog.verify_chain` reports. Appends are serialized (SQLite: BEGIN IMMEDIATE; Postgres:
a transaction-level advisory lock) and ``prev_hash`` is unique, so the chain cannot fork.

The chain also covers what runs: each decision to run an action (``approved``, ``edited``)
records ``args_sha256``, the hash of exactly the arguments approved, and the verification
recomputes it from every approval that was approved to run (approved, executing, executed,
failed, dead), so editing ``args_json`` or ``edited_args_json`` afterwards shows too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from ambient.approvals.shown import canonical_json, sha256_text
from ambient.approvals.tables import Approval, ApprovalStatus, AuditEntry
from ambient.core.clock import utc
from ambient.core.db import read_session

GENESIS_HASH = "0" * 64
RUN_DECISIONS = ("approved", "edited")  # the events that let an action run
APPROVED_TO_RUN = (
    ApprovalStatus.APPROVED,
    ApprovalStatus.EXECUTING,
    ApprovalStatus.EXECUTED,
    ApprovalStatus.FAILED,
    ApprovalStatus.DEAD,
)
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


def args_digest(args: dict[str, Any]) -> str:
    """The hash of exactly these arguments (a decision entry's ``args_sha256``)."""
    return sha256_text(canonical_json(args))


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
    approval_id: int | None = None  # an approval that differs from what its decision recorded


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
        """Walk the whole log in order and recompute every hash; then check that every
        approval approved to run still holds the arguments its decision entry hashed."""
        report = self._verify_entries(batch)
        if not report.ok:
            return report
        return self._verify_approved_args(report.checked, batch) or report

    def _verify_entries(self, batch: int) -> ChainReport:
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

    def _verify_approved_args(self, checked: int, batch: int) -> ChainReport | None:
        """The first approval whose kind or arguments differ from its latest run decision."""
        decisions: dict[int, tuple[int, str]] = {}  # approval id -> (entry id, details)
        last_id = 0
        with read_session(self.engine) as session:
            for entry_id, approval_id, details_json in session.exec(
                select(AuditEntry.id, AuditEntry.approval_id, AuditEntry.details_json)
                .where(col(AuditEntry.event).in_(RUN_DECISIONS))
                .order_by(col(AuditEntry.id))
            ):
                if approval_id is not None and entry_id is not None:
                    decisions[approval_id] = (entry_id, details_json)  # the latest one wins
            while True:
                rows = list(
                    session.exec(
                        select(Approval)
                        .where(
                            col(Approval.id) > last_id,
                            col(Approval.status).in_(APPROVED_TO_RUN),
                        )
                        .order_by(col(Approval.id))
                        .limit(batch)
                    )
                )
                if not rows:
                    return None
                for row in rows:
                    assert row.id is not None
                    last_id = row.id
                    decision = decisions.get(row.id)
                    problem = _approval_problem(row, decision)
                    if problem is not None:
                        broken_at = decision[0] if decision is not None else None
                        return ChainReport(False, checked, broken_at, problem, row.id)


def _approval_problem(row: Approval, decision: tuple[int, str] | None) -> str | None:
    """Why an approval approved to run does not match the audit log, or None."""
    if decision is None:
        return (
            f"approval {row.id} is {row.status.value} but the audit log has no decision to run it"
        )
    entry_id, details_json = decision
    details: dict[str, Any] = json.loads(details_json)
    if details.get("kind", row.kind) != row.kind:
        return (
            f"approval {row.id}: its kind is {row.kind!r}, but entry {entry_id} approved "
            f"{details.get('kind')!r}"
        )
    recorded = details.get("args_sha256")
    if recorded is None:  # decided before decisions recorded the hash: nothing to compare
        return None
    if recorded != args_digest(row.effective_args):
        return (
            f"approval {row.id}: its arguments are not the ones approved in entry {entry_id} "
            "(args_json or edited_args_json was changed after the decision)"
        )
    return None
