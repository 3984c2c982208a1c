"""items: thread keys of mail without a Message-ID recomputed by sender (the rule of issue 12)

The old rule keyed such mail ``subject:<subject>``, so two people's "Invoice", or any two
messages with an empty subject, were one thread. Each key starting ``subject:`` is computed
again from the row's sender and subject with the rule new mail gets
(:func:`ambient.core.message.thread_key`): ``subject:<sender>:<subject>``, or NULL (a thread
of its own) when the subject is empty or the sender has no address. Keys already in the new
form come out as they were. There is nothing to undo: downgrading keeps the keys.

Revision ID: 0007_thread_keys_by_sender
Revises: 0001_foundation
"""

from email.utils import getaddresses

import sqlalchemy as sa
from alembic import op

from ambient.core.message import thread_key

revision = "0007_thread_keys_by_sender"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

BATCH = 500
MAX_KEY_CHARS = 1000  # item.thread_key's length


def _sender_address(sender: str) -> str:
    addresses = [address for _, address in getaddresses([sender]) if "@" in address]
    return addresses[0].lower() if addresses else ""


def upgrade() -> None:
    connection = op.get_bind()
    select = sa.text(
        "SELECT id, subject, sender, thread_key FROM item "
        "WHERE thread_key LIKE 'subject:%' AND id > :after ORDER BY id LIMIT :batch"
    )
    update = sa.text("UPDATE item SET thread_key = :key WHERE id = :id")
    after = 0
    while rows := connection.execute(select, {"after": after, "batch": BATCH}).all():
        for item_id, subject, sender, old_key in rows:
            key = thread_key([], [], None, subject or "", _sender_address(sender or ""))
            key = key[:MAX_KEY_CHARS] if key else None
            if key != old_key:
                connection.execute(update, {"key": key, "id": item_id})
        after = rows[-1][0]


def downgrade() -> None:
    pass
