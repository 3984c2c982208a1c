"""Small builders for test emails."""

from __future__ import annotations


def email_bytes(
    subject: str = "Hello",
    *,
    sender: str = "Dana <dana@example.com>",
    to: str = "me@example.com",
    message_id: str | None = "<m1@example.com>",
    body: str = "Can we meet on Friday?",
    extra_headers: str = "",
) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}"]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    text = "\r\n".join(lines) + "\r\n" + extra_headers + "\r\n" + body + "\r\n"
    return text.encode("utf-8")
