"""The account's Sent folder, as the SMTP executor needs it: search by Message-ID, append once.

The IMAP part lives with the IMAP source (``ambient.mail.imap_sent``); it is imported
only when an account actually has a Sent folder, so the approvals package stays light.
"""

from __future__ import annotations

import asyncio
import imaplib
from datetime import datetime
from typing import Protocol

from ambient.core.config import ImapSourceSettings
from ambient.core.errors import SourceError


class SentFolder(Protocol):
    async def contains(self, message_id: str) -> bool:
        """Whether a message with this Message-ID is in the Sent folder."""
        ...

    async def save(self, raw: bytes, when: datetime) -> str:
        """Append a copy unless one with its Message-ID is there; returns what happened."""
        ...


class ImapSentFolder:
    def __init__(self, account: ImapSourceSettings, password: str | None) -> None:
        self.account = account
        self.password = password

    async def contains(self, message_id: str) -> bool:
        return await asyncio.to_thread(self._contains, message_id)

    def _contains(self, message_id: str) -> bool:
        from ambient.mail.imap_connection import (
            CONNECTION_ERRORS,
            connect,
            describe_failure,
            disconnect,
        )
        from ambient.mail.imap_sent import sent_folder

        failures: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, imaplib.IMAP4.error)
        client = connect(self.account, self.password)
        try:
            folder = sent_folder(client, self.account.sent_mailbox or "Sent")
            client.select_folder(folder, readonly=True)
            return bool(client.search(["HEADER", "Message-ID", message_id]))
        except failures as error:
            raise SourceError(describe_failure(self.account, error)) from error
        finally:
            disconnect(client)

    async def save(self, raw: bytes, when: datetime) -> str:
        from ambient.mail.imap_sent import save_sent_copy

        copy = await save_sent_copy(self.account, self.password, raw, when)
        return copy.outcome


def imap_sent_folder(account: ImapSourceSettings, password: str | None) -> SentFolder | None:
    """The account's Sent folder, or None when saving to Sent is turned off."""
    if not account.sent_mailbox:
        return None
    return ImapSentFolder(account, password)
