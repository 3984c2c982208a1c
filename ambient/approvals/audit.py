"""The audit log: every decision and execution, append-only, each row hashing the one before.

An entry is written in the same transaction as the change it records, so the log and the
queue never disagree. ``entry_hash`` = SHA-256 over the previous entry's hash and this entry's
fields; editing or deleting any row breaks the chain from there on, which
:meth:`AuditLog.verify_chain` reports. Appends are serialized (SQLite: BEGIN IMMEDIATE; Postgres:
a transaction-level advisory lock) and ``prev_hash`` is unique, so the chain cannot fork.

The chain also covers what runs. Each decision to run an action (``approved``, ``edited``)
records ``args_sha256``, the hash of exactly the arguments approved. For every approval in a
status that runs or ran (approved, executing, executed, failed, dead), the verification replays
its entries in order: its last decision must be one to run it, with the arguments it holds now,
and what the outbox and the human did since (executing, executed, failed, dead, retried,
delivered) must lead to the status it has. So editing ``args_json`` or ``edited_args_json``, or
setting a rejected row, or one already executed, back to ``approved`` in the database, shows. A
decision entered before decisions recorded the hash cannot be checked against the arguments:
such approvals are counted as ``unverifiable``, not called broken.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from ambient.approvals.shown import canonical_json
from ambient.approvals.tables import Approval, ApprovalStatus, AuditEntry
from ambient.core.clock import utc
from ambient.core.db import read_session
from ambient.core.diffs import sha256_text

GENESIS_HASH = "0" * 64
RUN_DECISIONS = ("approved", "edited")  # the events that let an action run
APPROVED_TO_RUN = (
    ApprovalStatus.APPROVED,
    ApprovalStatus.EXECUTING,
    ApprovalStatus.EXECUTED,
    ApprovalStatus.FAILED,
    ApprovalStatus.DEAD,
)
RUN_EVENTS = {  # after a decision to run: what may follow, and the status each leaves
    "executing": ApprovalStatus.EXECUTING,
    "executed": ApprovalStatus.EXECUTED,
    "failed": ApprovalStatus.FAILED,
    "dead": ApprovalStatus.DEAD,
    "retried": ApprovalStatus.APPROVED,
    "delivered": ApprovalStatus.EXECUTED,
}
NOT_DECISIONS = frozenset({"requeued", "revised"})  # they leave a row's status as it was
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
    approval_id: int | None = None  # an approval that differs from what its decisions recorded
    unverifiable: int = 0  # approvals decided before decisions recorded the arguments' hash


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
        """Walk the whole log in order and recompute every hash; then replay the entries of
        every approval in a status that runs or ran against the row as it is now."""
        report = self._verify_entries(batch)
        if not report.ok:
            return report
        return self._verify_approvals(report.checked, batch)

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

    def _verify_approvals(self, checked: int, batch: int) -> ChainReport:
        """The first approval that runs or ran although its entries do not allow it."""
        unverifiable = 0
        last_id = 0
        with read_session(self.engine) as session:
            while True:
                rows = list(
                    session.exec(
                        select(Approval)
                        .where(
                            col(Approval.id) > last_id,
                            col(Approval.status).in_(APPROVED_TO_RUN),
                        )
                        .order_by(col(Approval.id))
                        .limit(min(batch, 500))  # the ids go into one IN (…)
                    )
                )
                if not rows:
                    return ChainReport(True, checked, unverifiable=unverifiable)
                last_id = rows[-1].id or last_id
                histories = _histories(session, [row.id for row in rows if row.id is not None])
                for row in rows:
                    assert row.id is not None
                    replay = Replay.of(histories.get(row.id, []))
                    problem = replay.problem(row)
                    if problem is not None:
                        return ChainReport(False, checked, None, problem, row.id, unverifiable)
                    unverifiable += replay.unverifiable


Event = tuple[int, str, str]  # (entry id, event, details)


def _histories(session: Session, approval_ids: list[int]) -> dict[int, list[Event]]:
    """Each approval's entries, oldest first."""
    histories: dict[int, list[Event]] = {}
    query = (
        select(AuditEntry.id, AuditEntry.approval_id, AuditEntry.event, AuditEntry.details_json)
        .where(col(AuditEntry.approval_id).in_(approval_ids))
        .order_by(col(AuditEntry.id))
    )
    for entry_id, approval_id, event, details_json in session.exec(query):
        if approval_id is not None and entry_id is not None:
            histories.setdefault(approval_id, []).append((entry_id, event, details_json))
    return histories


@dataclass(frozen=True)
class Replay:
    """What an approval's entries say: its last decision, and the status the outbox and the
    human left it in since (None: no decision to run it)."""

    decision: Event | None
    status: ApprovalStatus | None
    last_entry: int | None
    ever_run: bool  # whether any decision was one to run it

    @classmethod
    def of(cls, events: list[Event]) -> Replay:
        decision: Event | None = None
        status: ApprovalStatus | None = None
        last_entry: int | None = None
        ever_run = False
        for entry in events:
            entry_id, event, _details = entry
            if event in NOT_DECISIONS or event.startswith(("memory_", "autonomy_")):
                continue  # a memory or autonomy change names the approval it came from
            last_entry = entry_id
            if event in RUN_EVENTS:
                status = RUN_EVENTS[event] if status is not None else None
            else:  # a decision: queued, blocked, approved, edited, rejected, undone, …
                decision = entry
                status = ApprovalStatus.APPROVED if event in RUN_DECISIONS else None
                ever_run = ever_run or event in RUN_DECISIONS
        return cls(decision, status, last_entry, ever_run)

    @property
    def details(self) -> dict[str, Any]:
        return json.loads(self.decision[2]) if self.decision is not None else {}

    @property
    def unverifiable(self) -> int:
        """1 when the decision to run predates the arguments' hash."""
        return int(self.status is not None and "args_sha256" not in self.details)

    def problem(self, row: Approval) -> str | None:
        """Why a row in a status that runs or ran does not match its entries, or None."""
        state = row.status.value
        if self.decision is None or not self.ever_run:
            return f"approval {row.id} is {state} but the audit log has no decision to run it"
        entry_id, event, _details = self.decision
        if event not in RUN_DECISIONS:
            return (
                f"approval {row.id} is {state} but its last decision in the audit log is "
                f"{event} (entry {entry_id})"
            )
        details = self.details
        if details.get("kind", row.kind) != row.kind:
            return (
                f"approval {row.id}: its kind is {row.kind!r}, but entry {entry_id} approved "
                f"{details.get('kind')!r}"
            )
        recorded = details.get("args_sha256")
        if recorded is not None and recorded != args_digest(row.effective_args):
            return (
                f"approval {row.id}: its arguments are not the ones approved in entry "
                f"{entry_id} (args_json or edited_args_json was changed after the decision)"
            )
        if self.status != row.status:
            expected = self.status.value if self.status is not None else "not to run"
            return (
                f"approval {row.id} is {state} but the audit log says it is {expected} "
                f"(entry {self.last_entry})"
            )
        return None
