"""Daemon health: a heartbeat row per process that the TUI and `ambient status` read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import col, select

from ambient import __version__
from ambient.core.clock import Clock
from ambient.core.db import read_session, write_session
from ambient.core.leases import holder_is_dead
from ambient.core.leases import process_name as process_name  # machine:pid, judged like a lease
from ambient.daemon.tables import Heartbeat

ALIVE_WITHIN = timedelta(seconds=30)


@dataclass(frozen=True)
class DaemonHealth:
    alive: bool
    process: str | None
    beat_at: datetime | None
    started_at: datetime | None
    model: str
    status: str


class HeartbeatRecorder:
    def __init__(self, engine: Engine, clock: Clock, model: str, process: str) -> None:
        self.engine = engine
        self.clock = clock
        self.model = model
        self.process = process
        self.started_at = clock.now()

    def beat(self, status: str = "") -> None:
        now = self.clock.now()
        with write_session(self.engine) as session:
            row = session.get(Heartbeat, self.process) or Heartbeat(
                process=self.process, started_at=self.started_at, beat_at=now
            )
            row.beat_at = now
            row.stopped_at = None
            row.model = self.model
            row.version = __version__
            row.status = status[:500]
            session.add(row)

    def stopped(self) -> None:
        with write_session(self.engine) as session:
            row = session.get(Heartbeat, self.process)
            if row is not None:
                row.stopped_at = self.clock.now()
                session.add(row)


def read_health(engine: Engine, clock: Clock) -> DaemonHealth:
    """The most recent heartbeat: alive if it beat recently, has not said it stopped, and its
    process is not known to be gone (a PID of this machine that no longer exists)."""
    with read_session(engine) as session:
        row = session.exec(select(Heartbeat).order_by(col(Heartbeat.beat_at).desc())).first()
    if row is None:
        return DaemonHealth(False, None, None, None, "", "never started")
    gone = row.stopped_at is None and holder_is_dead(row.process)  # killed, on this host
    alive = row.stopped_at is None and clock.now() - row.beat_at < ALIVE_WITHIN and not gone
    if alive:
        status = row.status
    else:
        status = "stopped" if row.stopped_at else "process gone" if gone else "not responding"
    return DaemonHealth(alive, row.process, row.beat_at, row.started_at, row.model, status)
