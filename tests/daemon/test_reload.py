"""SIGHUP reload in process: what is kept, what is rebuilt; a broken config changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ambient.core.config import Secrets, Settings, load_settings
from ambient.core.errors import ConfigError
from ambient.daemon.notify import Notifier
from ambient.daemon.reload import Reloader
from ambient.daemon.service import Daemon
from ambient.runtime import Runtime
from tests.daemon.processors import AgentTestProcessor

TWO_SOURCES = """\
[worker]
concurrency = 2
poll_jitter_seconds = 0

[[sources]]
type = "maildir"
name = "inbox"

[[sources]]
type = "maildir"
name = "archive"
path = "{archive}"
owned = false
"""


@pytest.fixture
def config(ambient_home: Path) -> Path:
    path = ambient_home / "ambient.toml"
    path.write_text(TWO_SOURCES.format(archive=ambient_home / "archive"))
    return path


@pytest.fixture
async def running(config: Path) -> AsyncIterator[tuple[Runtime, Daemon]]:
    settings, secrets = load_settings()
    runtime = Runtime(settings, secrets)
    runtime.processor = AgentTestProcessor()
    daemon = runtime.daemon
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    while daemon.scheduler is None or not daemon.scheduler.running:
        await asyncio.sleep(0.01)
    yield runtime, daemon
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    await runtime.aclose()


def job_ids(daemon: Daemon) -> set[str]:
    assert daemon.scheduler is not None
    return {job.id for job in daemon.scheduler.get_jobs() if job.id.startswith("poll:")}


async def test_unchanged_sources_are_kept_changed_ones_replaced_removed_ones_dropped(
    running: tuple[Runtime, Daemon], config: Path, ambient_home: Path
) -> None:
    runtime, daemon = running
    inbox, archive = daemon.sources
    config.write_text(
        "[worker]\nconcurrency = 3\npoll_jitter_seconds = 0\n\n"
        '[[sources]]\ntype = "maildir"\nname = "inbox"\n\n'
        f'[[sources]]\ntype = "maildir"\nname = "archive"\npath = "{ambient_home / "moved"}"\n'
        "owned = false\n"
    )
    processor = daemon.worker.processor

    def load() -> tuple[Settings, Secrets]:
        # the same variables (pytest's own PYTEST_CURRENT_TEST changes between test phases)
        return load_settings()[0], runtime.secrets

    reloader = Reloader(runtime, daemon, load, Notifier(None))

    assert await reloader.reload()
    assert daemon.sources[0] is inbox  # same config: same object, same connection
    assert daemon.sources[1] is not archive  # changed path: a new source
    assert getattr(daemon.sources[1], "path", None) == ambient_home / "moved"
    assert job_ids(daemon) == {"poll:inbox", "poll:archive"}
    assert daemon.worker.settings.concurrency == 3
    assert daemon.worker.processor is processor  # model and agent unchanged: kept
    assert reloader.runtime.settings.worker.concurrency == 3  # a new runtime, for the new config
    assert reloader.runtime.engine is runtime.engine  # on the same database
    assert runtime.settings.worker.concurrency == 2  # the first configuration's, as it was

    config.write_text(
        "[worker]\nconcurrency = 3\npoll_jitter_seconds = 0\n\n"
        '[[sources]]\ntype = "maildir"\nname = "inbox"\n'
    )
    assert await reloader.reload()
    assert [source.name for source in daemon.sources] == ["inbox"]
    assert job_ids(daemon) == {"poll:inbox"}


async def test_a_changed_model_rebuilds_the_processor(
    running: tuple[Runtime, Daemon], config: Path
) -> None:
    runtime, daemon = running
    processor = daemon.worker.processor

    def load() -> tuple[Settings, Secrets]:
        settings, secrets = load_settings()
        return settings.model_copy(update={"fallback_model": "test"}), secrets

    reloaded = []
    daemon.hooks.on_reload.append(lambda settings: _record(reloaded, settings))
    reloader = Reloader(runtime, daemon, load, Notifier(None))
    assert await reloader.reload()
    assert daemon.worker.processor is not processor
    assert daemon.worker.processor is reloader.runtime.processor  # the new runtime's agent
    assert reloader.runtime.tracing is runtime.tracing  # one tracing per process
    assert [settings.fallback_model for settings in reloaded] == ["test"]


async def _record(into: list[Settings], settings: Settings) -> None:
    into.append(settings)


async def test_a_broken_config_keeps_everything_running_as_it_was(
    running: tuple[Runtime, Daemon], config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime, daemon = running
    before = (list(daemon.sources), daemon.worker.processor, runtime.settings)
    config.write_text('[[sources]]\ntype = "maildir"\nname = "inbox"\ninterval_seconds = "soon"\n')

    assert not await Reloader(runtime, daemon, load_settings, Notifier(None)).reload()
    assert (list(daemon.sources), daemon.worker.processor, runtime.settings) == before
    assert job_ids(daemon) == {"poll:inbox", "poll:archive"}
    assert "reload failed, keeping the running configuration" in caplog.text
    assert "sources[0].interval_seconds" in caplog.text


async def test_no_reload_once_stopping(running: tuple[Runtime, Daemon]) -> None:
    runtime, daemon = running

    def load() -> tuple[Settings, Secrets]:
        raise ConfigError("must not be called")

    assert not await Reloader(runtime, daemon, load, Notifier(None)).reload(lambda: True)
