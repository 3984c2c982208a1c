"""SIGHUP: re-read the configuration and memory, apply them to the running daemon.

Nothing in flight is dropped: everything new is built first (off the event loop), by a new
runtime of the new configuration on the same database and tracing (``DaemonRuntime.reloaded``),
and only a configuration that loads and builds completely is applied; a broken one is logged
with its error and the running configuration stays. Applied live: sources (added, removed,
changed — unchanged ones keep their connection, and so do ones whose schedule alone changed:
their poll job gets the new trigger), worker settings (concurrency, intervals, backoff), the
item processor (model, agent, policy, secrets; rebuilt only when those changed),
the log level, and the memory folder, which is re-read and summarised in the log. The database
location needs a restart (logged).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ambient.core.config import Secrets, Settings
from ambient.core.errors import AmbientError
from ambient.core.ledger import ClaimedItem
from ambient.core.processing import ItemOutcome, ItemProcessor
from ambient.core.schedule import SCHEDULE_SETTINGS
from ambient.daemon.notify import Notifier
from ambient.daemon.parts import DaemonRuntime
from ambient.daemon.service import Daemon
from ambient.memory.store import MemoryStore
from ambient.sources.base import Source

log = logging.getLogger(__name__)

# Settings the item processor does not depend on: a change to them keeps the processor.
_NOT_FOR_PROCESSOR = {"sources", "worker", "log_level", "log_format", "config_dir", "data_dir"}


@dataclass(frozen=True)
class ReloadPlan:
    runtime: DaemonRuntime  # the new configuration's
    sources: list[Source]
    processor: ItemProcessor | None  # None: keep the running one
    memory: str


class Reloader:
    def __init__(
        self,
        runtime: DaemonRuntime,
        daemon: Daemon,
        load: Callable[[], tuple[Settings, Secrets]],
        notifier: Notifier,
        *,
        on_logging: Callable[[Settings, Secrets], None] = lambda _settings, _secrets: None,
        wrap_processor: Callable[[ItemProcessor], ItemProcessor] = lambda processor: processor,
    ) -> None:
        self.runtime = runtime  # the running configuration's (a new one after each reload)
        self.daemon = daemon
        self.load = load
        self.notifier = notifier
        self.on_logging = on_logging
        self.wrap_processor = wrap_processor
        self.lock = asyncio.Lock()

    async def reload(self, stopping: Callable[[], bool] = lambda: False) -> bool:
        """Reload once; True if the new configuration is running, False if the old one stayed."""
        async with self.lock:
            if stopping():
                return False
            self.notifier.reloading()
            try:
                settings, secrets = await asyncio.to_thread(self.load)
                plan = await asyncio.to_thread(self.prepare, settings, secrets)
            except AmbientError as error:
                detail = " / ".join(str(error).splitlines()) or type(error).__name__
                log.error("reload failed, keeping the running configuration: %s", detail)
                return False
            except Exception:  # noqa: BLE001 - a failed reload must not stop the daemon
                log.exception("reload failed, keeping the running configuration")
                return False
            await self.apply(plan)
            return True

    def prepare(self, settings: Settings, secrets: Secrets) -> ReloadPlan:
        """Build everything the new configuration needs, touching nothing that runs."""
        old = self.runtime.settings
        fresh = self.runtime.reloaded(settings, secrets)
        if settings.resolved_database_url != old.resolved_database_url:
            log.warning("reload: the database location changed; restart the daemon to use it")
        running = {source.name: source for source in self.daemon.sources}
        old_configs = {config.name: config for config in old.sources}
        to_build = [
            config
            for config in settings.sources
            if _connection_of(old_configs.get(config.name)) != _connection_of(config)
            or config.name not in running
            or _secret_of(config, secrets) != _secret_of(config, self.runtime.secrets)
        ]
        built = {source.name: source for source in fresh.sources_for(to_build)}
        sources = [built.get(config.name) or running[config.name] for config in settings.sources]
        processor = None
        same_settings = _processor_inputs(settings) == _processor_inputs(old)
        if not same_settings or _variables(secrets) != _variables(self.runtime.secrets):
            processor = self.wrap_processor(fresh.processor)
            log.warning(
                "reload: the periodic jobs (feedback, reflection, trace forwarding) keep their "
                "model and settings until the daemon restarts"
            )
        return ReloadPlan(fresh, sources, processor, describe_memory(fresh.memory))

    async def apply(self, plan: ReloadPlan) -> None:
        self.runtime = plan.runtime
        settings = plan.runtime.settings
        self.on_logging(settings, plan.runtime.secrets)
        if plan.processor is not None:
            self.daemon.worker.processor = plan.processor  # items in flight finish on the old one
            log.info("reload: item processor rebuilt (model %s)", settings.model_name)
        if self.daemon.heartbeat is not None:
            self.daemon.heartbeat.model = settings.model_name
        await self.daemon.reload(settings, plan.sources)
        log.info("reload: memory re-read: %s", plan.memory)


def _processor_inputs(settings: Settings) -> dict[str, Any]:
    return settings.model_dump(exclude=_NOT_FOR_PROCESSOR)


def _connection_of(config: BaseModel | None) -> dict[str, Any] | None:
    """A source's settings but its schedule: a new schedule keeps the source (and its
    connection) and only replaces its poll job's trigger (Daemon.reload)."""
    return None if config is None else config.model_dump(exclude=set(SCHEDULE_SETTINGS))


def _secret_of(config: object, secrets: Secrets) -> str | None:
    """The password a source reads from a variable (a changed one rebuilds the source)."""
    return secrets.get(getattr(config, "password_env", None))


def _variables(secrets: Secrets) -> dict[str, str]:
    # NOTIFY_SOCKET is taken out of the environment once read; it is not the processor's input
    return {name: value for name, value in secrets.values.items() if name != "NOTIFY_SOCKET"}


def describe_memory(store: MemoryStore) -> str:
    """Re-read every memory file; a one-line summary (problems named) for the log."""
    rows = store.status()
    usable = [row.name for row in rows if row.status == "ok"]
    problems = [f"{row.name} ({row.status})" for row in rows if row.status != "ok"]
    text = f"{len(usable)} file(s) usable in {store.folder}"
    if usable:
        text += f": {', '.join(usable)}"
    if problems:
        text += f"; not usable: {', '.join(problems)}"
    return text


class DelayedProcessor:
    """A processor that waits before each item (test hook AMBIENT_DEBUG_ITEM_DELAY_SECONDS)."""

    def __init__(self, inner: ItemProcessor, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds

    async def process(self, item: ClaimedItem) -> ItemOutcome:
        await asyncio.sleep(self.seconds)
        return await self.inner.process(item)


def delayed(processor: ItemProcessor, seconds: float) -> ItemProcessor:
    return DelayedProcessor(processor, seconds) if seconds > 0 else processor
