"""items: the sender's address and domain and the subject's topic, normalised and indexed

The agent's few-shot lookup finds past items by sender, thread, domain and topic; matching on
the raw ``sender`` and ``subject`` text (``LIKE '%@domain%'``) read the whole table for every
new item. Three columns hold them normalised (:class:`ambient.core.message.MatchKeys`, what
the ledger writes for new items), each indexed with the id so a lookup reads the newest few
rows of one value; the thread key's index gets the id too. Stored rows are filled in batches
from their own ``sender`` and ``subject`` columns, not their raw bytes. Downgrading drops them.

Revision ID: 0011_item_sender_columns
Revises: 0008_lineage
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from ambient.core.message import ADDRESS_CHARS, DOMAIN_CHARS, TOPIC_CHARS, MatchKeys

revision = "0011_item_sender_columns"
down_revision = "0008_lineage"
branch_labels = None
depends_on = None

BATCH = 1000
COLUMNS = {"sender_address": ADDRESS_CHARS, "sender_domain": DOMAIN_CHARS, "topic": TOPIC_CHARS}


def _backfill() -> None:
    connection = op.get_bind()
    select = sa.text(
        "SELECT id, sender, subject FROM item WHERE id > :after ORDER BY id LIMIT :batch"
    )
    update = sa.text(
        "UPDATE item SET sender_address = :sender_address, sender_domain = :sender_domain, "
        "topic = :topic WHERE id = :id"
    )
    after = 0
    while rows := connection.execute(select, {"after": after, "batch": BATCH}).all():
        changes = []
        for item_id, sender, subject in rows:
            columns = MatchKeys.of_header(sender or "", subject or "").columns()
            if any(columns.values()):
                changes.append({"id": item_id, **columns})
        if changes:
            connection.execute(update, changes)
        after = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        for name, length in COLUMNS.items():
            column_type = sqlmodel.sql.sqltypes.AutoString(length=length)
            batch_op.add_column(sa.Column(name, column_type, nullable=True))
    _backfill()
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_thread_key")
        batch_op.create_index("ix_item_thread_key", ["thread_key", "id"], unique=False)
        for name in COLUMNS:
            batch_op.create_index(f"ix_item_{name}", [name, "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.drop_index(f"ix_item_{name}")
        batch_op.drop_index("ix_item_thread_key")
        batch_op.create_index("ix_item_thread_key", ["thread_key"], unique=False)
        for name in COLUMNS:
            batch_op.drop_column(name)
