"""approvals and items: the lineage of the decision (model, prompt, memory, policy, version)

Both columns are NULL on rows written before this revision: their lineage is unknown.

Revision ID: 0008_lineage
Revises: 0006_approval_provenance, 0007_thread_keys_by_sender
"""

import sqlalchemy as sa
from alembic import op

import ambient.core.db  # noqa: F401

revision = "0008_lineage"
down_revision = ("0006_approval_provenance", "0007_thread_keys_by_sender")
branch_labels = None
depends_on = None

TABLES = ("approval", "item")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("lineage_json", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("lineage_json")
