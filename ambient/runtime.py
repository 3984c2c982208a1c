"""One assembly of ambient's parts from Settings + Secrets + a clock, shared by every edge.

The daemon, each CLI command and the TUI take their parts from a `Runtime` instead of building
their own, so one process has one engine and one clock — the clock a test passes in is the clock
every part decides with. Parts are built on first use: a command that needs no database opens
none.
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Engine

from ambient.core.clock import Clock, SystemClock
from ambient.core.config import Secrets, Settings
from ambient.core.db import open_database


class Runtime:
    def __init__(self, settings: Settings, secrets: Secrets, clock: Clock | None = None) -> None:
        self.settings = settings
        self.secrets = secrets
        self.clock: Clock = clock or SystemClock()

    @cached_property
    def engine(self) -> Engine:
        """The database, migrated, opened with the configured busy timeout."""
        return open_database(
            self.settings.resolved_database_url, self.settings.database_busy_timeout_seconds
        )

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
