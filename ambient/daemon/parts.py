"""What the daemon process takes from the assembly above it (``ambient.runtime.Runtime``).

The daemon layer builds nothing from Settings: the runtime builds the daemon and its parts, and
a reload asks it for a runtime of the new configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine

from ambient.core.clock import Clock
from ambient.core.config import Secrets, Settings, SourceSettings
from ambient.core.ledger import Ledger
from ambient.core.processing import ItemProcessor
from ambient.daemon.service import Daemon
from ambient.memory.store import MemoryStore
from ambient.sources.base import Source


class DaemonRuntime(Protocol):
    """One configuration's parts, each built once, and the way to a new configuration's."""

    settings: Settings
    secrets: Secrets

    @property
    def clock(self) -> Clock: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def memory(self) -> MemoryStore: ...

    @property
    def processor(self) -> ItemProcessor: ...

    @property
    def daemon(self) -> Daemon: ...

    def sources_for(self, configs: Sequence[SourceSettings]) -> list[Source]: ...

    def reloaded(self, settings: Settings, secrets: Secrets) -> DaemonRuntime:
        """A runtime for the new configuration on the same database and tracing."""
        ...

    async def aclose(self) -> None: ...
