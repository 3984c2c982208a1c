"""The policy gate's warnings in the detail pane: the rule and its reason, before deciding."""

from __future__ import annotations

from collections.abc import Callable

from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.core.message import content_digest, parse_message
from ambient.tui.app import AmbientApp
from tests.tui.conftest import DaemonStandIn, email_bytes, screen_text, shows_detail, wait_for


async def test_a_reply_to_a_spoofed_reply_to_shows_why_in_the_detail(
    daemon: DaemonStandIn, tui: Callable[..., AmbientApp]
) -> None:
    raw = email_bytes(subject="New bank details").replace(
        b"Subject:", b"Reply-To: alice@attacker.example\nSubject:", 1
    )
    item_id = daemon.ingest(raw)
    message = parse_message(raw)
    context = ActionContext(
        item_id=item_id,
        thread_addresses=frozenset(message.thread_addresses),
        item_version=f"{item_id}:{content_digest(raw)[:16]}",
        sender_address=message.sender_address,
        reply_to=frozenset(message.reply_to),
        message_text=message.text,
    )
    args = {"to": ["alice@attacker.example"], "subject": "Re: New bank details", "body": "Noted."}
    (row,) = daemon.queue.queue_drafts(
        context=context,
        trace_id="",
        run_state=None,
        drafts=[DraftedAction("reply_email", "call-1", args, "Alice asked to confirm.")],
    )
    app = tui()
    async with app.run_test(size=(100, 60)) as pilot:
        await wait_for(pilot, shows_detail(app, row.id))
        text = " ".join(screen_text(app).split())
        assert (
            "⚠ reply_to_mismatch: the reply goes to alice@attacker.example (the message's "
            "Reply-To), not to the sender alice@example.com" in text
        )
