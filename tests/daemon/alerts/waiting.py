"""Things that wait for the human, made the way the daemon makes them: drafts and questions
queued on an item, notify items completed unread; and a channel that records what it is sent."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from ambient.approvals.drafts import DraftedAction
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.core.alert_settings import AlertSettings
from ambient.core.config import Settings
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from ambient.core.lineage import Lineage
from ambient.daemon.alerts.channel import Alert, AlertChannelError
from ambient.daemon.alerts.channels import AlertChannels
from ambient.daemon.alerts.dispatcher import AlertDispatcher
from tests.approvals.conftest import context_for
from tests.conftest import FrozenClock
from tests.daemon.mail import email_bytes

LINEAGE = Lineage(model="test", prompt_version="p", memory_commit="none", policy_version="v")
SECRET_BODY = "The vault code is 4711, keep it to yourself."


class Waiting:
    def __init__(self, engine: Engine, clock: FrozenClock, settings: Settings) -> None:
        self.ledger = Ledger(engine, clock, settings.worker)
        self.queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
        self.count = 0

    def _item(self, subject: str) -> int:
        self.count += 1
        raw = email_bytes(subject, message_id=f"<m{self.count}@example.com>", body=SECRET_BODY)
        return self.ledger.ingest(InboundItem("inbox", f"k{self.count}", raw)).item_id

    def draft(self, subject: str = "Lunch on Friday?") -> int:
        item_id = self._item(subject)
        self.ledger.set_state(item_id, ItemState.AWAITING_APPROVAL)
        args = {"to": ["dana@example.com"], "subject": f"Re: {subject}", "body": SECRET_BODY}
        draft = DraftedAction("reply_email", f"call-{self.count}", args, "Dana asked.")
        return self._queue(item_id, draft)

    def question(self, subject: str = "Which room?") -> int:
        item_id = self._item(subject)
        self.ledger.set_state(item_id, ItemState.AWAITING_APPROVAL)
        args = {"question": f"Should I mention {SECRET_BODY}?", "choices": []}
        return self._queue(item_id, DraftedAction("ask_user", f"ask-{self.count}", args, "?"))

    def _queue(self, item_id: int, draft: DraftedAction) -> int:
        (row,) = self.queue.queue_drafts(
            context=context_for(self.ledger, item_id),
            trace_id="0" * 32,
            run_state=None,
            drafts=[draft],
        )
        assert row.id is not None
        return row.id

    def notify(self, subject: str = "Invoice paid") -> int:
        item_id = self._item(subject)
        (claimed,) = self.ledger.claim("w1", 1)
        triage = {"decision": "notify", "reason": "r", "priority": "normal", "summary": SECRET_BODY}
        assert self.ledger.complete(claimed.id, "w1", ItemState.DONE, triage, LINEAGE)
        return item_id


@dataclass
class RecordingChannel:
    """A channel that keeps what it is sent, or fails with `failure` when that is set."""

    name: str
    sent: list[Alert] = field(default_factory=list)
    failure: str | None = None

    async def send(self, alert: Alert) -> None:
        if self.failure is not None:
            raise AlertChannelError(f"{self.name}: {self.failure}")
        self.sent.append(alert)


def dispatcher(
    engine: Engine,
    clock: FrozenClock,
    *channels: RecordingChannel,
    **settings: object,
) -> AlertDispatcher:
    values: dict[str, object] = {"quiet_hours": "", "timezone": "UTC", **settings}
    alerts = AlertSettings.model_validate(values)
    return AlertDispatcher(alerts, engine, clock, AlertChannels(list(channels), None))
