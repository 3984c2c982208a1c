"""tracing: durable span/score spool and the local audit log

Revision ID: 0004_tracing
Revises: 0001_foundation
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import ambient.core.db  # noqa: F401

revision = "0004_tracing"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace_spool",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("spans", "score", name="spoolkind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("created_at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trace_spool", schema=None) as batch_op:
        batch_op.create_index("ix_trace_spool_kind_id", ["kind", "id"], unique=False)

    op.create_table(
        "trace_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trace_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("detail_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trace_event", schema=None) as batch_op:
        batch_op.create_index("ix_trace_event_trace_id", ["trace_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trace_event", schema=None) as batch_op:
        batch_op.drop_index("ix_trace_event_trace_id")

    op.drop_table("trace_event")
    with op.batch_alter_table("trace_spool", schema=None) as batch_op:
        batch_op.drop_index("ix_trace_spool_kind_id")

    op.drop_table("trace_spool")
