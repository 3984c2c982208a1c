"""Which conversation a message belongs to, the same from the full parse and the ingest parse."""

from __future__ import annotations

import pytest

from ambient.core.message import parse_message, summarize_headers


def mail(*headers: str) -> bytes:
    return (
        "\r\n".join([*headers, "Date: Mon, 23 Nov 2026 10:00:00 +0000", "", "Hi."]) + "\r\n"
    ).encode()


def thread_of(raw: bytes) -> str | None:
    full, fast = parse_message(raw).thread_key, summarize_headers(raw).thread_key
    assert full == fast  # the ledger stores the fast one; nothing may read it differently
    return fast


def test_a_reply_joins_the_thread_of_its_first_reference() -> None:
    raw = mail(
        "From: dana@example.com",
        "Subject: Re: Lunch",
        "Message-ID: <3@x>",
        "In-Reply-To: <2@x>",
        "References: <1@x> <2@x>",
    )
    assert thread_of(raw) == "<1@x>"
    assert thread_of(mail("From: dana@example.com", "Message-ID: <3@x>", "In-Reply-To: <2@x>")) == (
        "<2@x>"
    )
    assert (
        thread_of(mail("From: dana@example.com", "Subject: Lunch", "Message-ID: <1@x>")) == "<1@x>"
    )


@pytest.mark.parametrize("subject", ["", "Re:", "   ", "Invoice"])
def test_mail_without_message_id_from_two_senders_is_two_threads(subject: str) -> None:
    dana = thread_of(mail("From: Dana <dana@example.com>", f"Subject: {subject}"))
    lee = thread_of(mail("From: Lee <lee@example.org>", f"Subject: {subject}"))
    assert dana is None or dana != lee


def test_mail_without_message_id_or_subject_is_a_thread_of_its_own() -> None:
    assert thread_of(mail("From: Dana <dana@example.com>", "Subject: Re: ")) is None
    assert thread_of(mail("From: Dana <dana@example.com>")) is None
    assert thread_of(mail("Subject: Invoice")) is None  # no sender either


def test_mail_without_message_id_from_one_sender_on_one_subject_is_one_thread() -> None:
    first = thread_of(mail("From: Dana <dana@example.com>", "Subject: Invoice 42"))
    again = thread_of(mail('From: "Dana D." <DANA@example.com>', "Subject: RE: Fwd: invoice 42"))
    assert first is not None and first == again
    other = thread_of(mail("From: Dana <dana@example.com>", "Subject: Invoice 43"))
    assert other != first


def test_encoded_headers_give_the_same_thread_in_both_parses() -> None:
    raw = mail(
        "From: =?utf-8?q?J=C3=B6rg?= <jorg@example.de>", "Subject: =?utf-8?q?R=C3=BCckfrage?="
    )
    assert thread_of(raw) == "subject:jorg@example.de:rückfrage"
