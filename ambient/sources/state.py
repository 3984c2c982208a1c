"""What a source keeps between runs, in the database beside the ledger.

A source's cursor lives in ``source_state.cursor_json`` and is written only here (the ledger
counts polls in the same row and never touches the cursor). An IMAP account keeps there, per
mailbox, the UIDVALIDITY and the highest UID the ledger holds, so a restart fetches only what
came after.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from ambient.core.clock import utc
from ambient.core.db import read_session, write_session
from ambient.core.ledger import first_items_by_message_id
from ambient.core.tables import SourceState


@dataclass(frozen=True)
class MailboxCursor:
    """How far one mailbox has been read: every UID up to ``last_uid`` is handled."""

    uidvalidity: int
    last_uid: int
    synced_at: datetime | None = None  # when last_uid last moved (for a UIDVALIDITY change)

    def to_json(self) -> dict[str, Any]:
        return {
            "uidvalidity": self.uidvalidity,
            "last_uid": self.last_uid,
            "synced_at": self.synced_at.isoformat() if self.synced_at else None,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> MailboxCursor | None:
        try:
            synced = value.get("synced_at")
            return cls(
                uidvalidity=int(value["uidvalidity"]),
                last_uid=int(value["last_uid"]),
                synced_at=utc(datetime.fromisoformat(synced)) if synced else None,
            )
        except (KeyError, TypeError, ValueError):
            return None  # an unreadable cursor: the mailbox is synced again from scratch


class SourceStateStore:
    """Reads and writes source cursors; answers which Message-IDs the ledger already holds."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, source: str) -> dict[str, Any]:
        with read_session(self.engine) as session:
            row = session.get(SourceState, source)
            if row is None:
                return {}
            try:
                value = json.loads(row.cursor_json or "{}")
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}

    def save(self, source: str, cursor: dict[str, Any]) -> None:
        """Replace the cursor only (poll counts and errors are the daemon's)."""
        with write_session(self.engine) as session:
            row = session.get(SourceState, source) or SourceState(name=source)
            row.cursor_json = json.dumps(cursor, sort_keys=True)
            session.add(row)

    def mailbox_cursors(self, source: str) -> dict[str, MailboxCursor]:
        mailboxes = self.load(source).get("mailboxes", {})
        cursors: dict[str, MailboxCursor] = {}
        if isinstance(mailboxes, dict):
            for name, value in mailboxes.items():
                cursor = MailboxCursor.from_json(value) if isinstance(value, dict) else None
                if cursor is not None:
                    cursors[name] = cursor
        return cursors

    def save_mailbox_cursor(self, source: str, mailbox: str, cursor: MailboxCursor) -> None:
        current = self.load(source)
        mailboxes = current.get("mailboxes")
        if not isinstance(mailboxes, dict):
            mailboxes = {}
        mailboxes[mailbox] = cursor.to_json()
        current["mailboxes"] = mailboxes
        self.save(source, current)

    def known_message_ids(self, message_ids: Collection[str]) -> set[str]:
        """Which of these Message-IDs the ledger holds, from any source (its dedup rule)."""
        with read_session(self.engine) as session:
            return set(first_items_by_message_id(session, message_ids))
