"""tracing: who holds a spool cursor's lease

A claim writes a fresh token beside the lease's expiry; acknowledging or releasing a batch
clears the lease only while that token is still the one there, so a forwarder that hung past
its lease cannot free the lease of the one that took over. Existing cursors have no holder.

Revision ID: 0012_spool_lease_owner
Revises: 0010_trace_cursors
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0012_spool_lease_owner"
down_revision = "0010_trace_cursors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trace_spool_cursor") as batch_op:
        batch_op.add_column(
            sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("trace_spool_cursor") as batch_op:
        batch_op.drop_column("lease_owner")
