"""Building the email an approved reply_email/send_email sends (its headers: also a calendar
reply's), and choosing the account.

A reply is threaded from the item's stored raw message (In-Reply-To = its Message-ID,
References = its References + its Message-ID, a ``Re:`` subject), never from anything the model
wrote. The Message-ID is derived from the idempotency key, so every try of one approval sends
the same Message-ID and the Sent folder can be searched for it.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from ambient.approvals.executors import PermanentExecutionError
from ambient.approvals.kinds.email import EmailAction
from ambient.core.config import ImapSourceSettings, Secrets, Settings, SmtpSettings
from ambient.core.message import ParsedMessage
from ambient.core.paths import UnsafePath, resolve_inside

MAX_REFERENCES = 20
_REPLY_PREFIX = re.compile(r"^\s*re\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class SendingAccount:
    smtp: SmtpSettings
    password: str | None
    from_address: str
    imap: ImapSourceSettings | None  # the item's IMAP account (its Sent folder), if any


def resolve_account(settings: Settings, secrets: Secrets, source_name: str) -> SendingAccount:
    """The SMTP server of the item's IMAP account, else ``[smtp]``; the password by name."""
    imap = next(
        (
            s
            for s in settings.sources
            if isinstance(s, ImapSourceSettings) and s.name == source_name
        ),
        None,
    )
    smtp = imap.smtp if imap is not None and imap.smtp is not None else settings.smtp
    if smtp is None:
        raise PermanentExecutionError(
            "no SMTP server configured: add [smtp] to ambient.toml (or smtp to the IMAP account)"
        )
    password = secrets.get(smtp.password_env)
    if smtp.password_env and password is None:
        raise PermanentExecutionError(f"smtp: the variable {smtp.password_env} is not set (.env)")
    if password is None and smtp.username and imap is not None and smtp is imap.smtp:
        password = secrets.get(imap.password_env)  # same login as the IMAP account
    account_address = (imap.address or imap.username) if imap is not None else None
    sender = smtp.from_address or account_address or settings.user_email or smtp.username
    if not sender or "@" not in sender:
        raise PermanentExecutionError(
            "no sender address: set smtp.from_address (or user_email) in ambient.toml"
        )
    return SendingAccount(smtp, password, sender, imap)


def message_id_for(idempotency_key: str, from_address: str) -> str:
    domain = from_address.rsplit("@", 1)[-1].strip().lower() or "ambient.invalid"
    return f"<{idempotency_key}@{domain}>"


def reply_subject(drafted: str, original: str) -> str:
    subject = drafted.strip() or original.strip()
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"


def thread_headers(original: ParsedMessage) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) for a reply to `original`."""
    references = list(original.references)
    if not references and original.in_reply_to:
        references = [original.in_reply_to]
    if original.message_id and original.message_id not in references:
        references.append(original.message_id)
    return original.message_id, references[-MAX_REFERENCES:]


def read_attachments(notes_dir: Path, paths: list[str]) -> list[tuple[str, bytes]]:
    files = []
    for relative in paths:
        try:
            path = resolve_inside(notes_dir, relative, follow_links=False)
            files.append((path.name, path.read_bytes()))
        except (UnsafePath, OSError) as error:
            raise PermanentExecutionError(f"attachment {relative!r}: {error}") from None
    return files


def new_email(
    *,
    to: list[str],
    cc: list[str],
    subject: str,
    idempotency_key: str,
    account: SendingAccount,
    sender_name: str | None,
    now: datetime,
    original: ParsedMessage | None,
) -> EmailMessage:
    """An email's headers: From, To, Cc, Subject, threading under `original` (if any), Date
    and the Message-ID derived from the idempotency key."""
    message = EmailMessage()
    message["From"] = formataddr((sender_name or "", account.from_address))
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    if original is not None:
        in_reply_to, references = thread_headers(original)
        if in_reply_to:
            message["In-Reply-To"] = in_reply_to
        if references:
            message["References"] = " ".join(references)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id_for(idempotency_key, account.from_address)
    return message


def build_email(
    action: EmailAction,
    *,
    idempotency_key: str,
    account: SendingAccount,
    sender_name: str | None,
    now: datetime,
    original: ParsedMessage | None,
    attachments: list[tuple[str, bytes]],
) -> EmailMessage:
    subject = action.subject
    if original is not None:
        subject = reply_subject(action.subject, original.subject)
    message = new_email(
        to=action.to,
        cc=action.cc,
        subject=subject,
        idempotency_key=idempotency_key,
        account=account,
        sender_name=sender_name,
        now=now,
        original=original,
    )
    message.set_content(action.body)
    for name, content in attachments:
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return message
