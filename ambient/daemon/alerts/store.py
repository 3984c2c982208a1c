"""The alerts' durable state (:mod:`ambient.daemon.alerts.tables`) as the dispatcher uses it.

:meth:`AlertStore.notice` numbers what waits in the order it is first seen and forgets what
no longer waits; :meth:`AlertStore.record` writes each channel's outcome — its mark moves only
when the alert was delivered, its last try always (the rate limit) — and the alert log, in one
transaction, so a restart neither repeats an alert nor loses one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine
from sqlmodel import col, delete, select

from ambient.core.db import read_session, write_session
from ambient.daemon.alerts.policy import Noticed
from ambient.daemon.alerts.tables import AlertChannelState, AlertLog, AlertWaiting
from ambient.daemon.alerts.waiting import ThingKind, WaitingThing

LOG_KEEP_DAYS = 90  # the alert log forgets older alerts as it records new ones


@dataclass(frozen=True)
class ChannelState:
    channel: str
    mark: int = 0
    last_attempt_at: datetime | None = None
    last_ok_at: datetime | None = None
    slot_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """One alert through one channel: what it covered and how it went."""

    channel: str
    kind: str  # alert, summary, digest, test
    count: int
    things: tuple[str, ...]
    title: str
    error: str | None = None  # None: delivered
    mark: int | None = None  # the channel's new mark once delivered (None: unchanged)
    slot_at: datetime | None = None  # the digest's scheduled time it covered

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class LoggedAlert:
    id: int
    channel: str
    kind: str
    sent_at: datetime
    count: int
    title: str
    ok: bool
    error: str | None
    things: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "kind": self.kind,
            "sent_at": self.sent_at.isoformat(),
            "count": self.count,
            "title": self.title,
            "ok": self.ok,
            "error": self.error,
            "things": self.things,
        }


def _state(row: AlertChannelState) -> ChannelState:
    return ChannelState(row.channel, row.mark, row.last_attempt_at, row.last_ok_at, row.slot_at)


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def notice(self, current: Sequence[WaitingThing], now: datetime) -> list[Noticed]:
        """Number what is new in `current`, forget what is not there any more; all of it in
        the order it was noticed."""
        wanted = {thing.thing for thing in current}
        query = select(
            col(AlertWaiting.id), AlertWaiting.thing, AlertWaiting.kind, AlertWaiting.noticed_at
        )
        with read_session(self.engine) as session:  # most ticks change nothing: no write lock
            rows = [
                Noticed(seq, thing, cast(ThingKind, kind), noticed_at)
                for seq, thing, kind, noticed_at in session.exec(query)
                if seq is not None
            ]
        known = {row.thing for row in rows}
        gone = [row.seq for row in rows if row.thing not in wanted]
        new = [thing for thing in current if thing.thing not in known]
        if gone or new:
            with write_session(self.engine) as session:
                if gone:
                    session.exec(delete(AlertWaiting).where(col(AlertWaiting.id).in_(gone)))
                added = [
                    AlertWaiting(thing=thing.thing, kind=thing.kind, noticed_at=now)
                    for thing in new
                ]
                session.add_all(added)
                session.flush()
                rows += [
                    Noticed(row.id, row.thing, cast(ThingKind, row.kind), row.noticed_at)
                    for row in added
                    if row.id is not None
                ]
        return sorted((row for row in rows if row.thing in wanted), key=lambda row: row.seq)

    def states(self) -> dict[str, ChannelState]:
        with read_session(self.engine) as session:
            return {row.channel: _state(row) for row in session.exec(select(AlertChannelState))}

    def cover_slot(self, channel: str, slot_at: datetime) -> None:
        """The digest's scheduled times up to `slot_at` are done (its first state, or a time
        when nothing waited)."""
        with write_session(self.engine) as session:
            state = session.get(AlertChannelState, channel) or AlertChannelState(channel=channel)
            state.slot_at = slot_at
            session.add(state)

    def record(self, outcomes: Sequence[Outcome], now: datetime) -> list[int]:
        """Each outcome on its channel and in the log; the log rows' ids."""
        rows: list[AlertLog] = []
        with write_session(self.engine) as session:
            for outcome in outcomes:
                state = session.get(AlertChannelState, outcome.channel)
                if state is None:
                    state = AlertChannelState(channel=outcome.channel)
                if outcome.kind != "test":  # a test says nothing about what was delivered
                    state.last_attempt_at = now
                    if outcome.ok:
                        state.last_ok_at = now
                        if outcome.mark is not None:
                            state.mark = max(state.mark, outcome.mark)
                        if outcome.slot_at is not None:
                            state.slot_at = outcome.slot_at
                    session.add(state)
                row = AlertLog(
                    channel=outcome.channel,
                    kind=outcome.kind,
                    sent_at=now,
                    count=outcome.count,
                    things_json=json.dumps(list(outcome.things)),
                    title=outcome.title[:500],
                    ok=outcome.ok,
                    error=outcome.error,
                )
                session.add(row)
                rows.append(row)
            session.flush()
            cutoff = now - timedelta(days=LOG_KEEP_DAYS)
            session.exec(delete(AlertLog).where(col(AlertLog.sent_at) < cutoff))
            return [row.id for row in rows if row.id is not None]

    def recent(self, limit: int = 50) -> list[LoggedAlert]:
        """The newest alerts first."""
        query = select(AlertLog).order_by(col(AlertLog.id).desc()).limit(limit)
        with read_session(self.engine) as session:
            return [
                LoggedAlert(
                    id=row.id or 0,
                    channel=row.channel,
                    kind=row.kind,
                    sent_at=row.sent_at,
                    count=row.count,
                    title=row.title,
                    ok=row.ok,
                    error=row.error,
                    things=json.loads(row.things_json),
                )
                for row in session.exec(query)
            ]
