"""Reading one selected mailbox: its UIDVALIDITY, new UIDs, and messages fetched in batches.

Bodies are fetched with ``BODY.PEEK[]`` so the server never sets ``\\Seen``; the mailbox is
opened read-only (EXAMINE) for reading. Mail is untrusted: nothing here interprets it beyond
finding the Message-ID header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from imapclient import IMAPClient

from ambient.core.clock import utc

FETCH_BYTE_BUDGET = 32 * 1024 * 1024
"""Bytes of message bodies fetched per poll (at least one message, whatever its size)."""

SUMMARY_CHUNK = 2000
_HEADER_FIELD = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
_MESSAGE_ID_HEADER = re.compile(rb"(?im)^message-id[ \t]*:((?:.*)(?:\r?\n[ \t].*)*)")
_ANGLE_ID = re.compile(rb"<[^<>\s]+>")


@dataclass(frozen=True)
class MailboxStatus:
    uidvalidity: int
    uidnext: int | None
    exists: int
    permanent_flags: tuple[str, ...] = ()  # what STORE may set for good ("\\*": new keywords)


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    message_id: str | None
    internal_date: datetime | None
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MessageSummary:
    """Enough to decide whether a message is new without fetching its body."""

    uid: int
    message_id: str | None
    internal_date: datetime | None
    seen: bool


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID in a message's header block, or None (never raises on odd bytes)."""
    end = re.search(rb"\r?\n\r?\n", raw)
    head = raw[: end.start()] if end else raw
    match = _MESSAGE_ID_HEADER.search(head)
    if match is None:
        return None
    found = _ANGLE_ID.search(match.group(1))
    return found.group(0).decode("ascii", errors="replace") if found else None


def select(client: IMAPClient, mailbox: str, *, readonly: bool = True) -> MailboxStatus:
    response = client.select_folder(mailbox, readonly=readonly)
    uidnext = response.get(b"UIDNEXT")
    return MailboxStatus(
        uidvalidity=int(response[b"UIDVALIDITY"]),
        uidnext=int(uidnext) if uidnext is not None else None,
        exists=int(response.get(b"EXISTS", 0)),
        permanent_flags=tuple(_flags(response.get(b"PERMANENTFLAGS"))),
    )


def uids_after(client: IMAPClient, last_uid: int) -> list[int]:
    # "n:*" also matches the highest UID when it is below n, hence the filter.
    return sorted(uid for uid in client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)


def search(client: IMAPClient, criteria: list[str]) -> list[int]:
    return sorted(int(uid) for uid in client.search(criteria))


def _internal_date(value: object) -> datetime | None:
    return utc(value) if isinstance(value, datetime) else None


def _flags(value: object) -> list[str]:
    if not isinstance(value, tuple | list):
        return []
    return [
        flag.decode("utf-8", "replace") if isinstance(flag, bytes) else str(flag) for flag in value
    ]


def within_budget(
    client: IMAPClient, uids: list[int], budget: int = FETCH_BYTE_BUDGET
) -> list[int]:
    """The longest prefix of ``uids`` whose bodies fit the byte budget (at least one)."""
    if len(uids) <= 1:
        return uids
    sizes = client.fetch(uids, ["RFC822.SIZE"])
    chosen: list[int] = []
    total = 0
    for uid in uids:
        size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
        if chosen and total + size > budget:
            break
        chosen.append(uid)
        total += size
    return chosen


def fetch_messages(client: IMAPClient, uids: list[int]) -> list[FetchedMessage]:
    """Bodies of these UIDs, in UID order; a UID expunged meanwhile is simply absent."""
    if not uids:
        return []
    response = client.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE", "FLAGS"])
    messages = []
    for uid in sorted(response):
        parts = response[uid]
        raw = parts.get(b"BODY[]")
        if not isinstance(raw, bytes):
            raw = b"" if raw is None else str(raw).encode("utf-8", "replace")
        messages.append(
            FetchedMessage(
                uid=int(uid),
                raw=raw,
                message_id=message_id_of(raw),
                internal_date=_internal_date(parts.get(b"INTERNALDATE")),
                flags=_flags(parts.get(b"FLAGS")),
            )
        )
    return messages


def summaries(client: IMAPClient, uids: list[int]) -> list[MessageSummary]:
    """Message-ID, date and seen flag of these UIDs (headers only; for a UIDVALIDITY change)."""
    found: list[MessageSummary] = []
    for start in range(0, len(uids), SUMMARY_CHUNK):
        chunk = uids[start : start + SUMMARY_CHUNK]
        response = client.fetch(
            chunk, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]", "INTERNALDATE", "FLAGS"]
        )
        for uid in sorted(response):
            parts = response[uid]
            header = parts.get(_HEADER_FIELD)
            found.append(
                MessageSummary(
                    uid=int(uid),
                    message_id=message_id_of(header) if isinstance(header, bytes) else None,
                    internal_date=_internal_date(parts.get(b"INTERNALDATE")),
                    seen="\\Seen" in _flags(parts.get(b"FLAGS")),
                )
            )
    return found


def message_ids(client: IMAPClient, uids: list[int]) -> dict[int, str | None]:
    """The Message-ID of each of these UIDs still in the mailbox (headers only)."""
    if not uids:
        return {}
    response = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    found: dict[int, str | None] = {}
    for uid, parts in response.items():
        header = parts.get(_HEADER_FIELD)
        found[int(uid)] = message_id_of(header) if isinstance(header, bytes) else None
    return found


def flags_of(client: IMAPClient, uid: int) -> list[str]:
    """The flags and keywords of one UID (none if it is gone)."""
    return _flags(client.get_flags([uid]).get(uid))
