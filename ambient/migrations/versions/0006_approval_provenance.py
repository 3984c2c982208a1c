"""approvals: where each draft came from, for the policy gate's later checks

Revision ID: 0006_approval_provenance
Revises: 0002_approvals
"""

import sqlalchemy as sa
from alembic import op

import ambient.core.db  # noqa: F401

revision = "0006_approval_provenance"
down_revision = "0002_approvals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("provenance_json", sa.Text(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.drop_column("provenance_json")
