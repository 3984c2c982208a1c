"""The TUI against a real SQLite database, with the test standing in for the daemon.

`daemon` writes the way the daemon does (ledger ingest -> claim -> awaiting approval -> the
approvals queue), so rows appear and disappear under a running app; `tui` builds the app on a
runtime with the frozen clock through the same `make_app` the CLI uses.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import Engine
from textual.pilot import Pilot

from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.events import ApprovalEvents
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval
from ambient.core.config import Secrets, Settings
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from ambient.core.message import content_digest, parse_message
from ambient.daemon.health import HeartbeatRecorder
from ambient.runtime import Runtime
from ambient.tui.app import AmbientApp, make_app
from ambient.tui.widgets.detail import DetailPane
from tests.conftest import FrozenClock


def email_bytes(
    *,
    sender: str = "Alice Example <alice@example.com>",
    to: str = "me@example.org",
    subject: str = "Lunch on Friday?",
    body: str = "Hi,\n\nAre you free for lunch on Friday at noon?\n\nAlice\n",
    message_id: str | None = None,
    html: str | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Tue, 24 Nov 2026 08:30:00 +0000"
    message["Message-ID"] = message_id or f"<{abs(hash((sender, subject)))}@example.com>"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


class DaemonStandIn:
    """Writes to the database the way the daemon does, while the app runs."""

    def __init__(self, engine: Engine, clock: FrozenClock, settings: Settings) -> None:
        self.engine = engine
        self.clock = clock
        self.ledger = Ledger(engine, clock, settings.worker)
        self.queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
        self.heartbeat = HeartbeatRecorder(engine, clock, "test-model", "testhost:1")
        self._keys = itertools.count(1)

    def beat(self) -> None:
        self.heartbeat.beat("running")

    def poll(self, source: str = "inbox", error: str | None = None) -> None:
        self.ledger.record_poll(source, error=error)

    def ingest(self, raw: bytes, *, priority: str = "normal", source: str = "inbox") -> int:
        key = f"msg-{next(self._keys)}"
        result = self.ledger.ingest(InboundItem(source=source, key=key, raw=raw))
        (claimed,) = self.ledger.claim("test-daemon", 1)
        assert claimed.id == result.item_id
        triage = {
            "decision": "act",
            "reason": "a colleague asks a direct question",
            "priority": priority,
            "summary": "asks about lunch",
        }
        self.ledger.complete(claimed.id, "test-daemon", ItemState.AWAITING_APPROVAL, triage)
        return result.item_id

    def draft(
        self,
        kind: str = "reply_email",
        args: dict[str, Any] | None = None,
        *,
        raw: bytes | None = None,
        priority: str = "normal",
        rationale: str = "Alice asked a yes/no question; the calendar is free on Friday.",
        source: str = "inbox",
    ) -> Approval:
        raw = raw if raw is not None else email_bytes()
        item_id = self.ingest(raw, priority=priority, source=source)
        parsed = parse_message(raw)
        if args is None:
            args = {
                "to": [parsed.sender_address],
                "subject": f"Re: {parsed.subject}",
                "body": "Hi Alice,\n\nFriday at noon works for me.\n\nBest,\nMe",
            }
        context = ActionContext(
            item_id=item_id,
            thread_addresses=frozenset(parsed.thread_addresses),
            item_version=f"{item_id}:{content_digest(raw)[:16]}",
        )
        item = self.ledger.get(item_id)
        (row,) = self.queue.queue_drafts(
            context=context,
            trace_id=item.trace_id or "",
            run_state=None,
            drafts=[DraftedAction(kind, f"call-{item_id}", args, rationale)],
        )
        return row

    def status_of(self, approval_id: int) -> str:
        return self.queue.get(approval_id).status.value


@pytest.fixture
def daemon(engine: Engine, clock: FrozenClock, settings: Settings) -> DaemonStandIn:
    return DaemonStandIn(engine, clock, settings)


@pytest.fixture
def tui(
    engine: Engine, clock: FrozenClock, settings: Settings, secrets: Secrets
) -> Iterator[Callable[..., AmbientApp]]:
    """The app on a runtime of its own (as `ambient tui` has) over the test's database and clock;
    `secrets` and `events` stand in for the runtime's."""
    runtimes: list[Runtime] = []

    def build(
        *, secrets: Secrets = secrets, events: ApprovalEvents | None = None, **options: Any
    ) -> AmbientApp:
        options.setdefault("poll_seconds", 0.1)
        runtime = Runtime(settings, secrets, clock, actor="tui:tester", engine=engine)
        if events is not None:
            runtime.approval_events = events
        runtimes.append(runtime)
        return make_app(runtime, **options)

    yield build
    for runtime in runtimes:
        runtime.close()


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 5.0
) -> None:
    """Let the app run until `condition()` holds; fail naming the condition if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {getattr(condition, '__name__', condition)}"
            )
        await pilot.pause(0.05)
    await pilot.pause()  # let the screen catch up with what the condition saw


def queue_keys(app: AmbientApp) -> list[int]:
    from ambient.tui.widgets.row_list import RowList

    return [row.key for row in app.screen.query_one("#queue", RowList).rows]


def shows_detail(app: AmbientApp, approval_id: int) -> Callable[[], bool]:
    def detail_shown() -> bool:
        view = app.screen.query_one(DetailPane).view
        return view is not None and view.id == approval_id

    detail_shown.__name__ = f"detail of #{approval_id}"
    return detail_shown


def notified(app: AmbientApp, fragment: str) -> Callable[[], bool]:
    def has_notification() -> bool:
        return any(fragment in str(n.message) for n in app._notifications)

    has_notification.__name__ = f"a notification saying {fragment!r}"
    return has_notification


def wait_statuses(daemon: DaemonStandIn, ids: Iterable[int], status: str) -> Callable[[], bool]:
    def stored() -> bool:
        return all(daemon.status_of(approval_id) == status for approval_id in ids)

    stored.__name__ = f"approvals {list(ids)} to be {status}"
    return stored


def screen_text(app: AmbientApp) -> str:
    """What the terminal shows now, as plain text (one line per row)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text.rstrip() for strip in strips)


def squeezed(text: str) -> list[str]:
    """The screen's lines with runs of spaces collapsed (column padding does not matter)."""
    return [" ".join(line.split()) for line in text.splitlines()]


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type into the focused Input or TextArea at once (key-by-key typing is Textual's job)."""
    from textual.widgets import Input, TextArea

    focused = pilot.app.focused
    if isinstance(focused, Input):
        focused.insert_text_at_cursor(text)
    elif isinstance(focused, TextArea):
        focused.insert(text)
    else:
        raise AssertionError(f"nothing to type into: focus is on {focused!r}")
    await pilot.pause()
