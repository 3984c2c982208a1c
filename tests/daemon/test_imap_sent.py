"""Saving a sent reply to the account's Sent folder on a real Dovecot, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ambient.core.errors import SourceError
from ambient.mail.imap_sent import append_sent_copy, save_sent_copy
from tests.daemon.mail import email_bytes
from tests.servers.dovecot import ImapAccount

REPLY = email_bytes(
    "Re: Friday",
    sender="Me <me@example.com>",
    to="dana@example.com",
    message_id="<reply-1@ambient.example>",
    body="Friday works.",
    extra_headers="In-Reply-To: <m1@example.com>\r\nReferences: <m1@example.com>\r\n",
)


def sent_messages(account: ImapAccount, folder: str) -> list[tuple[bytes, set[bytes]]]:
    client = account.client()
    try:
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]", "FLAGS"])
        return [(parts[b"BODY[]"], set(parts[b"FLAGS"])) for parts in found.values()]
    finally:
        client.logout()


async def test_a_sent_reply_is_appended_once_even_when_saved_twice(
    imap_account: ImapAccount,
) -> None:
    helper = imap_account.client()
    helper.create_folder("Sent")
    helper.logout()
    settings = imap_account.settings()
    when = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)

    first = await save_sent_copy(settings, imap_account.password, REPLY, when)
    again = await save_sent_copy(settings, imap_account.password, REPLY, when)

    assert (first.outcome, first.mailbox, first.message_id) == (
        "appended", "Sent", "<reply-1@ambient.example>",
    )  # fmt: skip
    assert again.outcome == "already_there"
    [(raw, flags)] = sent_messages(imap_account, "Sent")
    assert raw == REPLY and b"\\Seen" in flags


def test_the_sent_folder_is_created_when_missing_and_can_be_turned_off(
    imap_account: ImapAccount,
) -> None:
    named = imap_account.settings(sent_mailbox="Sent Items")
    assert append_sent_copy(named, imap_account.password, REPLY).outcome == "appended"
    assert len(sent_messages(imap_account, "Sent Items")) == 1

    off = imap_account.settings(sent_mailbox="")
    assert append_sent_copy(off, imap_account.password, REPLY).outcome == "disabled"


def test_saving_needs_a_message_id_and_a_working_login(imap_account: ImapAccount) -> None:
    settings = imap_account.settings()
    with pytest.raises(ValueError, match="Message-ID"):
        append_sent_copy(settings, imap_account.password, email_bytes(message_id=None))
    with pytest.raises(SourceError, match="imap work .*login failed"):
        append_sent_copy(settings, "wrong password", REPLY)
