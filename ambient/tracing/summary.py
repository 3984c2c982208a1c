"""What a trace shows of an item: who, what, when, and the start of the text; never raw bytes."""

from __future__ import annotations

from typing import Any

from ambient.core.message import UnparseableMessage, parse_message

SNIPPET_CHARS = 1_000


def item_summary(
    *, source: str, key: str, kind: str, raw: bytes | None = None, item_id: int | None = None
) -> dict[str, Any]:
    """The root observation's input for an item (email headers and a text snippet)."""
    summary: dict[str, Any] = {"source": source, "key": key, "kind": kind}
    if item_id is not None:
        summary["item_id"] = item_id
    if raw is None:
        return summary
    try:
        message = parse_message(raw)
    except UnparseableMessage as error:
        summary["parse_error"] = str(error)
        summary["size"] = len(raw)
        return summary
    summary.update(
        subject=message.subject,
        sender=message.sender,
        to=message.to,
        cc=message.cc,
        date=message.date.isoformat() if message.date else None,
        message_id=message.message_id,
        attachments=[attachment.filename for attachment in message.attachments],
        text=message.text[:SNIPPET_CHARS],
    )
    return summary
