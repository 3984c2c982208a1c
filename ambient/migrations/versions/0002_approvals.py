"""approvals: the queue of drafted actions and the hash-chained audit log

Revision ID: 0002_approvals
Revises: 0001_foundation
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import ambient.core.db  # noqa: F401

revision = "0002_approvals"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("entry_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prev_hash"),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entry_approval_id", ["approval_id"], unique=False)

    op.create_table(
        "approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("tool_call_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("args_json", sa.Text(), nullable=False),
        sa.Column("edited_args_json", sa.Text(), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("run_state", sa.Text(), nullable=True),
        sa.Column("trace_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "blocked",
                "approved",
                "executing",
                "executed",
                "failed",
                "dead",
                "feedback",
                "rejected",
                "ignored",
                name="approvalstatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("item_version", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("thread_addresses_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("thread_head_id", sa.Integer(), nullable=True),
        sa.Column("review_round", sa.Integer(), nullable=False),
        sa.Column("shown_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("policy_warnings_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("block_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("stale_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("queued_at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("executed_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "decision",
            sa.Enum(
                "approved",
                "edited",
                "feedback",
                "rejected",
                "ignored",
                name="decision",
                native_enum=False,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("decision_message", sa.Text(), nullable=True),
        sa.Column("warnings_acknowledged", sa.Boolean(), nullable=False),
        sa.Column("revised_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "reflection_status",
            sa.Enum(
                "none", "pending", "done", name="reflectionstatus", native_enum=False, length=30
            ),
            nullable=False,
        ),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("lease_expires_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivery_stage", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column("delivery_stage_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["item.id"],
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["approval.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.create_index("ix_approval_item_id", ["item_id"], unique=False)
        batch_op.create_index("ix_approval_parent_id", ["parent_id"], unique=False)
        batch_op.create_index("ix_approval_reflection_status", ["reflection_status"], unique=False)
        batch_op.create_index(
            "ix_approval_status_next_attempt", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_status_next_attempt")
        batch_op.drop_index("ix_approval_reflection_status")
        batch_op.drop_index("ix_approval_parent_id")
        batch_op.drop_index("ix_approval_item_id")
    op.drop_table("approval")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entry_approval_id")
    op.drop_table("audit_entry")
