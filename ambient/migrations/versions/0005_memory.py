"""memory: changes to propose again after a user's edit got in their way

Revision ID: 0005_memory
Revises: 0001_foundation
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import ambient.core.db  # noqa: F401

revision = "0005_memory"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "memory_reproposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("trace_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("cause", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("file", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("conflict", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "done", "failed", name="reproposalstatus", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("new_approval_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("approval_id"),
    )
    with op.batch_alter_table("memory_reproposal", schema=None) as batch_op:
        batch_op.create_index("ix_memory_reproposal_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("memory_reproposal", schema=None) as batch_op:
        batch_op.drop_index("ix_memory_reproposal_status")
    op.drop_table("memory_reproposal")
