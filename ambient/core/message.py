"""Parsing email bytes into what the rest of ambient reads: headers, text, attachments, and the
event of a calendar invite (:mod:`ambient.core.calendar`).

Email is untrusted input: parsing never raises on odd bytes; what cannot be understood is
reported in ``defects`` (a calendar part: in ``part_problems``) and the raw bytes stay
available to the ledger.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from ambient.core.calendar import CalendarInvite, invite_in
from ambient.core.clock import utc


class UnparseableMessage(ValueError):
    """The bytes are not an email message at all."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class ParsedMessage:
    subject: str
    sender: str  # "Name <addr>" as it appeared
    sender_address: str  # bare lower-case address
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    date: datetime | None
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    text: str
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    calendar: CalendarInvite | None = None  # the invite a text/calendar part holds
    # parts that could not be read, one line each ("calendar part could not be read: …")
    part_problems: list[str] = field(default_factory=list)

    @property
    def thread_key(self) -> str | None:
        return thread_key(
            self.references, [self.in_reply_to] if self.in_reply_to else [], self.message_id,
            self.subject, self.sender_address,
        )  # fmt: skip

    @property
    def thread_addresses(self) -> set[str]:
        """Every address that took part in this message (the reply policy's allow-set)."""
        people = [self.sender_address, *self.to, *self.cc, *self.reply_to]
        return {address.lower() for address in people if address}


_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_SUBJECT_PREFIX = re.compile(r"^\s*((re|fwd?|aw|wg)\s*:\s*)+", re.IGNORECASE)


def normalized_subject(subject: str) -> str:
    return _SUBJECT_PREFIX.sub("", subject).strip().lower()


ADDRESS_CHARS = 320  # the longest address SMTP allows (RFC 5321: 64 + "@" + 255)
DOMAIN_CHARS = 255
TOPIC_CHARS = 300


def subject_topic(subject: str) -> str:
    """What a subject is about, to match mail on: without Re:/Fwd:/AW:/WG:, lower-case,
    whitespace collapsed, cut to ``TOPIC_CHARS`` (the item table's column)."""
    return " ".join(normalized_subject(subject).split())[:TOPIC_CHARS].rstrip()


@dataclass(frozen=True)
class MatchKeys:
    """What a past item is found by when it is like a new one (the agent's few-shot examples),
    normalised as the item table stores them: the sender's bare lower-case address, its domain,
    the subject's topic ("" for what the message lacks)."""

    address: str
    domain: str
    topic: str

    @classmethod
    def of(cls, address: str, subject: str) -> MatchKeys:
        address = address.strip().lower()
        domain = address.rsplit("@", 1)[1] if "@" in address else ""
        return cls(address[:ADDRESS_CHARS], domain[:DOMAIN_CHARS], subject_topic(subject))

    @classmethod
    def of_header(cls, sender: str, subject: str) -> MatchKeys:
        """From a From header as the ledger stores it ("Name <addr>")."""
        addresses = _addresses_in(sender)
        return cls.of(addresses[0] if addresses else "", subject)

    def columns(self) -> dict[str, str | None]:
        """The item row's columns (NULL for what is missing)."""
        return {
            "sender_address": self.address or None,
            "sender_domain": self.domain or None,
            "topic": self.topic or None,
        }


def thread_key(
    references: list[str],
    in_reply_to: list[str],
    message_id: str | None,
    subject: str,
    sender_address: str,
) -> str | None:
    """The conversation a message belongs to: the first reference, else the message it answers,
    else itself (its Message-ID). A message with none of them joins others only by subject and
    only from the same sender with a subject that says something ("Re: Lunch" and "Lunch" from
    one person); two people's "Invoice", or any empty subject, is not one thread. None: the
    message is a thread of its own."""
    if references:
        return references[0]
    if in_reply_to:
        return in_reply_to[0]
    if message_id:
        return message_id
    topic = normalized_subject(subject)
    sender = sender_address.strip().lower()
    if not topic or not sender:
        return None
    return f"subject:{sender}:{topic}"


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError, AttributeError):  # malformed header values
        return ""
    if value is None:
        return ""
    try:
        return " ".join(str(value).split())
    except (ValueError, IndexError, TypeError, AttributeError):
        return ""


def _addresses(message: Message, name: str) -> list[str]:
    return _addresses_in(_header(message, name))


def _addresses_in(header: str) -> list[str]:
    return [address.lower() for _, address in getaddresses([header]) if "@" in address]


def _message_ids(text: str) -> list[str]:
    return _MESSAGE_ID.findall(text)


def html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style|head).*?</\1>", " ", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>|</h\d>", "\n", markup)
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _part_text(part: Message) -> str:
    try:
        if isinstance(part, EmailMessage):
            content = part.get_content()
            if isinstance(content, str):
                return content
        payload = part.get_payload(decode=True)
    except (LookupError, ValueError, AssertionError, TypeError, AttributeError):
        payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:
            return payload.decode("utf-8", errors="replace")
    return payload if isinstance(payload, str) else ""


def _body_and_attachments(message: Message) -> tuple[str, list[Attachment]]:
    plain: list[str] = []
    rich: list[str] = []
    attachments: list[Attachment] = []
    for part in message.walk() if message.is_multipart() else [message]:
        if part.is_multipart():
            continue
        disposition = (part.get("Content-Disposition") or "").lower()
        filename = part.get_filename()
        content_type = part.get_content_type()
        if filename or disposition.startswith("attachment"):
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            attachments.append(Attachment(filename or "(unnamed)", content_type, size))
        elif content_type == "text/plain":
            plain.append(_part_text(part))
        elif content_type == "text/html":
            rich.append(html_to_text(_part_text(part)))
    text = "\n\n".join(plain) if any(p.strip() for p in plain) else "\n\n".join(rich)
    return text.replace("\r\n", "\n").strip(), attachments


def _date(message: Message) -> datetime | None:
    raw = _header(message, "Date")
    if not raw:
        return None
    try:
        return utc(parsedate_to_datetime(raw))
    except (TypeError, ValueError, IndexError):
        return None


def looks_like_email(raw: bytes) -> bool:
    head = raw[:4096].lstrip()
    if not head:
        return False
    first_line = head.split(b"\n", 1)[0]
    return bool(re.match(rb"^(From |[!-9;-~]+:)", first_line))


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse email bytes; raises UnparseableMessage only when they are not email at all."""
    if not looks_like_email(raw):
        raise UnparseableMessage("not an email message: no header lines at the start")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    defects = [type(defect).__name__ for defect in message.defects]
    text, attachments = _body_and_attachments(message)
    calendar, part_problems = invite_in(message)
    sender_header = _header(message, "From")
    senders = _addresses(message, "From")
    message_ids = _message_ids(_header(message, "Message-ID"))
    in_reply_to = _message_ids(_header(message, "In-Reply-To"))
    return ParsedMessage(
        subject=_header(message, "Subject"),
        sender=sender_header,
        sender_address=senders[0] if senders else "",
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        reply_to=_addresses(message, "Reply-To"),
        date=_date(message),
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=_message_ids(_header(message, "References")),
        text=text,
        attachments=attachments,
        defects=defects,
        calendar=calendar,
        part_problems=part_problems,
    )


def content_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class HeaderSummary:
    """The few header fields the ledger keeps, read without parsing the body."""

    subject: str
    sender: str
    message_id: str | None
    thread_key: str | None
    date: datetime | None
    sender_address: str = ""  # bare lower-case address of the first From


def _decoded(message: Message, name: str) -> str:
    wanted = name.lower()
    value = next((str(v) for k, v in message.raw_items() if k.lower() == wanted), None)
    return "" if value is None else _decoded_value(value)


def _decoded_value(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # raw 8-bit header bytes, kept as surrogates by compat32
        raw = value.encode("ascii", "surrogateescape")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("latin-1")
    try:
        text = str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError, TypeError, HeaderParseError):
        text = str(value)
    return " ".join(text.split())


def _header_block(raw: bytes) -> Message:
    """The message's header lines only, parsed leniently (the body is never read)."""
    if not looks_like_email(raw):
        raise UnparseableMessage("not an email message: no header lines at the start")
    end = raw.find(b"\n\n")
    end_crlf = raw.find(b"\r\n\r\n")
    cut = min(x for x in (end, end_crlf, len(raw)) if x >= 0)
    return BytesHeaderParser(policy=compat32).parsebytes(raw[: cut + 4])


def header_fields(raw: bytes) -> dict[str, tuple[str, ...]]:
    """Every header field by its lower-case name, each value decoded to one line (a field
    may appear more than once); raises UnparseableMessage when the bytes are not email."""
    fields: dict[str, tuple[str, ...]] = {}
    for name, value in _header_block(raw).raw_items():
        key = name.strip().lower()
        fields[key] = (*fields.get(key, ()), _decoded_value(str(value)))
    return fields


def summarize_headers(raw: bytes) -> HeaderSummary:
    """Fast header-only parse for ingest; raises UnparseableMessage when it is not email."""
    message = _header_block(raw)
    message_ids = _message_ids(_decoded(message, "Message-ID"))
    references = _message_ids(_decoded(message, "References"))
    in_reply_to = _message_ids(_decoded(message, "In-Reply-To"))
    subject = _decoded(message, "Subject")
    sender = _decoded(message, "From")
    senders = _addresses_in(sender)
    message_id = message_ids[0] if message_ids else None
    address = senders[0] if senders else ""
    return HeaderSummary(
        subject=subject,
        sender=sender,
        message_id=message_id,
        thread_key=thread_key(references, in_reply_to, message_id, subject, address),
        date=_date(message),
        sender_address=address,
    )
