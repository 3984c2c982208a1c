"""The approvals tables: one row per drafted action, and the hash-chained audit log.

An approval's life::

    pending ──approve/edit──► approved ──► executing ──► executed
       │  ▲                      │  ▲          │
       │  └──────undo────────────┘  │          ├──► failed ──(retry with backoff)──► executing
       │                            │          └──► dead (after N tries, or delivery uncertain)
       ├──feedback──► feedback ──(agent revises: new row with parent_id)
       ├──answer────► feedback   (a question, ask_user: decision "answered"; the agent goes on
       │                          with the answer, and its new drafts have parent_id)
       ├──reject────► rejected
       └──ignore────► ignored
    blocked (policy gate): edit (to arguments the gate allows), reject or ignore
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Enum, Index, Text
from sqlmodel import Field, SQLModel

from ambient.approvals.provenance import Provenance
from ambient.core.db import UTCDateTime, enum_values
from ambient.core.tables import Item


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    BLOCKED = "blocked"
    APPROVED = "approved"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"
    DEAD = "dead"
    FEEDBACK = "feedback"
    REJECTED = "rejected"
    IGNORED = "ignored"


class Decision(StrEnum):
    """What the human decided (also the Langfuse score's category)."""

    APPROVED = "approved"
    EDITED = "edited"
    FEEDBACK = "feedback"
    REJECTED = "rejected"
    IGNORED = "ignored"
    ANSWERED = "answered"  # a question (ask_user); the answer is the decision's message


class ReflectionStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    DONE = "done"


AWAITING_HUMAN = frozenset({ApprovalStatus.PENDING, ApprovalStatus.BLOCKED})
"""Statuses a human decision applies to."""

UNDOABLE = frozenset(
    {
        ApprovalStatus.APPROVED,
        ApprovalStatus.REJECTED,
        ApprovalStatus.IGNORED,
        ApprovalStatus.FEEDBACK,
    }
)
FINAL = frozenset(
    {ApprovalStatus.EXECUTED, ApprovalStatus.DEAD, ApprovalStatus.REJECTED, ApprovalStatus.IGNORED}
)
"""Nothing more will happen to these (a feedback row is final once it has been revised)."""


def _enum(enum: type[StrEnum]) -> Enum:
    return Enum(enum, native_enum=False, length=30, values_callable=enum_values)


class Approval(SQLModel, table=True):
    __tablename__ = "approval"
    __table_args__ = (
        Index("ix_approval_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_approval_item_id", "item_id"),
        Index("ix_approval_parent_id", "parent_id"),
        Index("ix_approval_reflection_status", "reflection_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key=f"{Item.__tablename__}.id")
    parent_id: int | None = Field(default=None, foreign_key="approval.id")
    kind: str = Field(max_length=50)
    tool_call_id: str = Field(default="", max_length=200)
    args_json: str = Field(sa_type=Text)  # the draft as the agent wrote it
    edited_args_json: str | None = Field(default=None, sa_type=Text)  # the human's edit
    rationale: str = Field(default="", sa_type=Text)
    run_state: str | None = Field(default=None, sa_type=Text)  # opaque JSON to resume the run
    trace_id: str = Field(default="", max_length=64)
    status: ApprovalStatus = Field(default=ApprovalStatus.PENDING, sa_type=_enum(ApprovalStatus))
    # what the human is shown, and the hash a decision must carry
    item_version: str = Field(default="", max_length=500)
    thread_addresses_json: str = "[]"
    thread_head_id: int | None = None  # newest item of the thread when last queued
    review_round: int = 0  # +1 each time the row is re-queued (so its hash changes)
    shown_hash: str = Field(default="", max_length=64)
    policy_warnings_json: str = "[]"
    # where the draft came from, for the gate's later checks (see approvals.provenance)
    provenance_json: str = Field(default="{}", sa_type=Text)
    # what produced the draft (see core.lineage); NULL on rows from before lineage
    lineage_json: str | None = Field(default=None, sa_type=Text)
    block_reason: str | None = None
    stale_reason: str | None = None  # why it was last re-queued for review
    # times
    created_at: datetime = Field(sa_type=UTCDateTime)
    queued_at: datetime = Field(sa_type=UTCDateTime)  # expiry is measured from here
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    executed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the decision
    decision: Decision | None = Field(default=None, sa_type=_enum(Decision))
    decided_by: str | None = Field(default=None, max_length=200)
    decision_message: str | None = Field(default=None, sa_type=Text)  # feedback, reason, answer
    warnings_acknowledged: bool = False
    revised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reflection_status: ReflectionStatus = Field(
        default=ReflectionStatus.NONE, sa_type=_enum(ReflectionStatus)
    )
    # the outbox
    idempotency_key: str | None = Field(default=None, max_length=100, unique=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivery_stage: str | None = Field(default=None, max_length=30)  # executor's durable marker
    delivery_stage_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    result_json: str | None = Field(default=None, sa_type=Text)

    # ---- decoded views --------------------------------------------------------------------
    @property
    def args(self) -> dict[str, Any]:
        """The arguments as drafted."""
        value: dict[str, Any] = json.loads(self.args_json)
        return value

    @property
    def edited_args(self) -> dict[str, Any] | None:
        if self.edited_args_json is None:
            return None
        value: dict[str, Any] = json.loads(self.edited_args_json)
        return value

    @property
    def effective_args(self) -> dict[str, Any]:
        """What runs: the human's edit if there is one, else the draft."""
        edited = self.edited_args
        return edited if edited is not None else self.args

    @property
    def warnings(self) -> list[str]:
        value: list[str] = json.loads(self.policy_warnings_json)
        return value

    @property
    def thread_addresses(self) -> frozenset[str]:
        return frozenset(json.loads(self.thread_addresses_json))

    @property
    def provenance(self) -> Provenance:
        return Provenance.loads(self.provenance_json)

    @property
    def result(self) -> dict[str, Any] | None:
        if self.result_json is None:
            return None
        value: dict[str, Any] = json.loads(self.result_json)
        return value

    @property
    def is_final(self) -> bool:
        if self.status == ApprovalStatus.FEEDBACK:
            return self.revised_at is not None
        return self.status in FINAL


class AuditEntry(SQLModel, table=True):
    """One decision or execution; ``entry_hash`` covers the row and the previous row's hash."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_approval_id", "approval_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    event: str = Field(max_length=50)
    approval_id: int | None = None
    item_id: int | None = None
    details_json: str = Field(default="{}", sa_type=Text)
    prev_hash: str = Field(max_length=64, unique=True)  # a fork of the chain cannot commit
    entry_hash: str = Field(max_length=64)

    @property
    def details(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.details_json)
        return value


# ---- earned autonomy (see ambient.approvals.autonomy) -------------------------------------
class AutonomyLevel(StrEnum):
    LEARNING = "learning"  # a human decides; clean approvals build the streak
    AUTONOMOUS = "autonomous"  # drafts the policy gate passes cleanly are approved by rule
    DEMOTED = "demoted"  # was autonomous; back to a human, with the reason, until earned again


class AutonomyClass(SQLModel, table=True):
    """The evidence for one action class (a kind plus a scope: `reply_email:ann@example.com`),
    written in the same transaction as each decision it counts."""

    __tablename__ = "autonomy_class"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=500, unique=True)
    kind: str = Field(max_length=50)
    level: AutonomyLevel = Field(default=AutonomyLevel.LEARNING, sa_type=_enum(AutonomyLevel))
    streak: int = 0  # human approvals in a row without an edit (since streak_since)
    streak_since: datetime | None = Field(default=None, sa_type=UTCDateTime)  # last restart
    approved: int = 0  # human approvals without an edit, ever
    auto_approved: int = 0  # approvals by the rule, ever
    eval_agreement: float | None = None  # the last eval run's agreement for the class
    eval_items: int | None = None
    eval_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    changed_at: datetime = Field(sa_type=UTCDateTime)  # the last change of level or streak
    change_reason: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class AutonomySwitch(SQLModel, table=True):
    """The kill switch (`ambient autonomy off`): one row; none means on."""

    __tablename__ = "autonomy_switch"

    id: int = Field(default=1, primary_key=True)
    switched_on: bool = True
    changed_at: datetime = Field(sa_type=UTCDateTime)
    changed_by: str = Field(default="", max_length=200)
