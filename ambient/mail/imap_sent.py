"""Saving a copy of a sent message in the account's Sent folder, exactly once.

The outbox calls :func:`save_sent_copy` after the SMTP server accepted a reply. It is
idempotent by Message-ID: the folder is searched for the Message-ID first, so a retry after a
crash between APPEND and recording it does not leave two copies. The copy is stored ``\\Seen``.

The folder: ``sent_mailbox`` if it exists; else the folder the server marks ``\\Sent``
(SPECIAL-USE); else ``sent_mailbox`` is created. ``sent_mailbox = ""`` (or none) turns it off
(for servers that file sent mail themselves, like Gmail).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from imapclient import IMAPClient
from imapclient.imapclient import SENT

from ambient.core.config import ImapSourceSettings
from ambient.core.errors import SourceError
from ambient.mail.imap_connection import (
    IMAP_ERRORS,
    account_label,
    connect,
    describe_failure,
    disconnect,
)
from ambient.mail.imap_mailbox import message_id_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentCopy:
    outcome: Literal["appended", "already_there", "disabled"]
    mailbox: str | None
    message_id: str | None


def find_sent_folder(client: IMAPClient, configured: str) -> str | None:
    """``configured`` if it exists, else the folder marked ``\\Sent``; None: neither (read-only)."""
    if client.folder_exists(configured):
        return configured
    special = client.find_special_folder(SENT)
    return str(special) if special else None


def sent_folder(client: IMAPClient, configured: str) -> str:
    found = find_sent_folder(client, configured)
    if found is not None:
        return found
    client.create_folder(configured)
    log.info("created the Sent folder %r", configured)
    return configured


def _already_there(client: IMAPClient, folder: str, message_id: str) -> bool:
    client.select_folder(folder, readonly=True)
    return bool(client.search(["HEADER", "Message-ID", message_id]))


def append_sent_copy(
    settings: ImapSourceSettings, password: str | None, raw: bytes, when: datetime | None = None
) -> SentCopy:
    """APPEND ``raw`` to the Sent folder unless a message with its Message-ID is there.

    Blocking (IMAPClient); raises SourceError (account and cause) when the server cannot be
    reached or refuses, and ValueError when ``raw`` has no Message-ID (the outbox sets one).
    """
    if not settings.sent_mailbox:
        return SentCopy("disabled", None, None)
    message_id = message_id_of(raw)
    if message_id is None:
        raise ValueError("a sent message needs a Message-ID to be saved to Sent exactly once")
    client = connect(settings, password)
    try:
        folder = sent_folder(client, settings.sent_mailbox)
        if _already_there(client, folder, message_id):
            log.info("%s: %s already in %r", settings.name, message_id, folder)
            return SentCopy("already_there", folder, message_id)
        client.append(folder, raw, flags=("\\Seen",), msg_time=when)
        log.info("%s: sent copy of %s appended to %r", settings.name, message_id, folder)
        return SentCopy("appended", folder, message_id)
    except IMAP_ERRORS as error:
        raise SourceError(
            f"{describe_failure(settings, error)} (saving {message_id} to Sent)"
        ) from error
    finally:
        disconnect(client)


async def save_sent_copy(
    settings: ImapSourceSettings, password: str | None, raw: bytes, when: datetime | None = None
) -> SentCopy:
    """:func:`append_sent_copy` in a worker thread, for the asyncio outbox."""
    log.debug("saving a sent copy for %s", account_label(settings))
    return await asyncio.to_thread(append_sent_copy, settings, password, raw, when)
