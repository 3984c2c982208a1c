"""approvals: earned autonomy, the evidence per action class and the kill switch

Revision ID: 0009_autonomy
Revises: 0006_approval_provenance
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import ambient.core.db

revision = "0009_autonomy"
down_revision = "0006_approval_provenance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "autonomy_class",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "learning",
                "autonomous",
                "demoted",
                name="autonomylevel",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("streak_since", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approved", sa.Integer(), nullable=False),
        sa.Column("auto_approved", sa.Integer(), nullable=False),
        sa.Column("eval_agreement", sa.Float(), nullable=True),
        sa.Column("eval_items", sa.Integer(), nullable=True),
        sa.Column("eval_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("change_reason", sa.Text(), nullable=False),
        sa.Column("created_at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "autonomy_switch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("switched_on", sa.Boolean(), nullable=False),
        sa.Column("changed_at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("autonomy_switch")
    op.drop_table("autonomy_class")
