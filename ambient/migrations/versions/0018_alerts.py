"""alerts: what waits in the order it was noticed, each channel's mark, the alert log

A branch of its own from the foundation: nothing here refers to another table (a waiting
thing is named as "approval:12" or "item:40"), so it migrates beside the other branches.

Revision ID: 0018_alerts
Revises: 0001_foundation
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import ambient.core.db

revision = "0018_alerts"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_waiting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thing", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("noticed_at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("thing"),
    )
    op.create_table(
        "alert_channel",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("mark", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_ok_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("slot_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("channel"),
    )
    op.create_table(
        "alert_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("sent_at", ambient.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("things_json", sa.Text(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_log_sent_at", "alert_log", ["sent_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_log_sent_at", table_name="alert_log")
    op.drop_table("alert_log")
    op.drop_table("alert_channel")
    op.drop_table("alert_waiting")
