"""tracing: a cursor per destination into the spool (Langfuse, any OTLP endpoint)

A spool row no longer carries one lease: each destination has its own cursor (how far it has
delivered each kind), its lease and its last error, so one backend being down neither loses
nor holds back what the other gets. Spool ids never come back (SQLite: AUTOINCREMENT, for which
the table is rebuilt), so a cursor never skips a newer row. Rows already spooled are delivered
to every destination, from the start.

Revision ID: 0010_trace_cursors
Revises: 0004_tracing
"""

from typing import Literal

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import ambient.core.db

revision = "0010_trace_cursors"
down_revision = "0004_tracing"
branch_labels = None
depends_on = None

LEASE_COLUMNS = ("attempts", "lease_expires_at", "last_error")


def _spool_rebuild() -> Literal["always", "auto"]:
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def upgrade() -> None:
    op.create_table(
        "trace_spool_cursor",
        sa.Column("destination", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("spans", "score", name="spoolkind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("delivered_id", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("destination", "kind"),
    )
    with op.batch_alter_table(
        "trace_spool", recreate=_spool_rebuild(), table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        for column in LEASE_COLUMNS:
            batch_op.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("trace_spool", recreate=_spool_rebuild()) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("lease_expires_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
    op.drop_table("trace_spool_cursor")
