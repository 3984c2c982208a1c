"""The user's own sent messages, read without changing anything: an IMAP Sent folder or a Maildir.

Style learning reads them (``ambient.memory.learn_style``). The IMAP folder is found as the
Sent-copy saver finds it (``sent_mailbox``, else the folder the server marks ``\\Sent``) but
never created, it is opened read-only (EXAMINE) and bodies are fetched with ``BODY.PEEK[]``, so
no flag changes. A Maildir folder is only listed and read. Only messages whose From is one of
the user's addresses count, newest first: on IMAP by UID (the order they were filed; headers
are read from the highest UID down until enough are found), in a Maildir by the Date header
(else the file's time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses
from pathlib import Path

from imapclient import IMAPClient

from ambient.core.config import ImapSourceSettings
from ambient.core.errors import InputError, NotFoundError, SourceError
from ambient.core.message import UnparseableMessage, summarize_headers
from ambient.mail.imap_connection import (
    IMAP_ERRORS,
    account_label,
    connect,
    describe_failure,
    disconnect,
)
from ambient.mail.imap_mailbox import FetchedMessage, fetch_messages
from ambient.mail.imap_sent import find_sent_folder

HEADER_CHUNK = 500  # IMAP messages whose From and Date are fetched at a time
BODY_CHUNK = 50
HEADER_MAX_BYTES = 64 * 1024  # of a Maildir file, read to find its From and Date


@dataclass(frozen=True)
class SentMessage:
    raw: bytes
    date: datetime | None


@dataclass(frozen=True)
class SentMail:
    folder: str  # where the messages were read, as a user names it
    scanned: int  # messages whose headers were read
    messages: list[SentMessage]  # the user's, newest first, at most the limit asked for


def _sent_by(head: bytes, addresses: frozenset[str]) -> tuple[bool, datetime | None]:
    """Whether a header block's From is one of `addresses`, and its Date."""
    try:
        headers = summarize_headers(head)
    except UnparseableMessage:
        return False, None
    senders = {address.lower() for _, address in getaddresses([headers.sender])}
    return bool(senders & addresses), headers.date


def _header_block(parts: dict[bytes, object]) -> bytes:
    for key, value in parts.items():
        if key.startswith(b"BODY[HEADER") and isinstance(value, bytes):
            return value
    return b""


def _newest_from(
    client: IMAPClient, addresses: frozenset[str], limit: int
) -> tuple[int, list[int]]:
    """How many headers were read, and the user's newest UIDs (highest first)."""
    chosen: list[int] = []
    uids = sorted((int(uid) for uid in client.search(["ALL"])), reverse=True)
    scanned = 0
    for start in range(0, len(uids), HEADER_CHUNK):
        chunk = uids[start : start + HEADER_CHUNK]
        response = client.fetch(chunk, ["BODY.PEEK[HEADER.FIELDS (FROM DATE)]"])
        for uid in chunk:
            if uid not in response:  # expunged meanwhile
                continue
            scanned += 1
            if _sent_by(_header_block(response[uid]), addresses)[0]:
                chosen.append(uid)
                if len(chosen) == limit:
                    return scanned, chosen
    return scanned, chosen


def read_imap_sent(
    settings: ImapSourceSettings, password: str | None, addresses: Iterable[str], limit: int
) -> SentMail:
    """The user's newest `limit` messages in the account's Sent folder (blocking).

    NotFoundError when the account has no Sent folder; SourceError when the server cannot be
    reached or refuses."""
    mine = frozenset(address.lower() for address in addresses)
    configured = settings.sent_mailbox or "Sent"
    client = connect(settings, password)
    folder = configured
    try:
        found = find_sent_folder(client, configured)
        if found is None:
            raise NotFoundError(
                f"{account_label(settings)}: no Sent folder: {configured!r} does not exist and "
                "no folder is marked \\Sent (set sent_mailbox to the folder's name)"
            )
        folder = found
        client.select_folder(folder, readonly=True)
        scanned, uids = _newest_from(client, mine, limit)
        fetched: dict[int, FetchedMessage] = {}
        for start in range(0, len(uids), BODY_CHUNK):
            for message in fetch_messages(client, uids[start : start + BODY_CHUNK]):
                fetched[message.uid] = message
    except IMAP_ERRORS as error:
        raise SourceError(f"{describe_failure(settings, error)} (reading {folder!r})") from error
    finally:
        disconnect(client)
    messages = [
        SentMessage(
            fetched[uid].raw, _sent_by(fetched[uid].raw, mine)[1] or fetched[uid].internal_date
        )
        for uid in uids
        if uid in fetched
    ]
    return SentMail(f"{settings.name}: {folder}", scanned, messages)


def _head(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(HEADER_MAX_BYTES)


def read_maildir_sent(path: Path, addresses: Iterable[str], limit: int) -> SentMail:
    """The user's newest `limit` messages in a Maildir folder (its cur/ and new/), read-only.

    InputError when the path is not a Maildir folder or a message cannot be read."""
    mine = frozenset(address.lower() for address in addresses)
    folder = path.expanduser()
    if not folder.exists():
        raise InputError(f"{folder} does not exist")
    subfolders = [folder / name for name in ("cur", "new") if (folder / name).is_dir()]
    if not subfolders:
        raise InputError(f"{folder} is not a Maildir folder (it has no cur/ or new/ inside)")
    scanned, found = 0, []
    try:
        for subfolder in subfolders:
            for entry in sorted(subfolder.iterdir()):
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                scanned += 1
                sent, date = _sent_by(_head(entry), mine)
                if sent:
                    when = date or datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                    found.append((when, entry.name, entry))
        found.sort(key=lambda row: (row[0], row[1]), reverse=True)
        messages = [SentMessage(entry.read_bytes(), when) for when, _, entry in found[:limit]]
    except OSError as error:
        raise InputError(f"{error.filename or folder}: cannot be read: {error.strerror}") from error
    return SentMail(str(folder), scanned, messages)
