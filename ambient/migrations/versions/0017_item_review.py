"""items: the human's review of notify and ignore decisions, and what an overturn taught memory

``review`` is where the human is with an item the agent let pass (unread / read for "notify",
unreviewed / confirmed / overturned for "ignore"), indexed with the id for the inbox, the
ignored list and their counts. ``overturn_json`` keeps the decision the human overturned and
their words (the re-run replaces the triage); ``reflected_at`` is set once memory reflection
has learned from the overturn. Rows decided before this revision keep NULL: they were never
offered for review, and listing years of them as unread would bury what is new.

Revision ID: 0017_item_review
Revises: 0011_item_sender_columns
"""

import sqlalchemy as sa
from alembic import op

import ambient.core.db

revision = "0017_item_review"
down_revision = "0011_item_sender_columns"
branch_labels = None
depends_on = None

REVIEWS = ("unread", "read", "unreviewed", "confirmed", "overturned")


def upgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "review",
                sa.Enum(*REVIEWS, name="review", native_enum=False, length=20),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("reviewed_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("overturn_json", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("reflected_at", ambient.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_item_review", ["review", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_review")
        for name in ("reflected_at", "overturn_json", "reviewed_at", "review"):
            batch_op.drop_column(name)
