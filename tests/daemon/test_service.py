import asyncio
import os

from ambient.core.errors import SourceError
from ambient.core.items import ItemState
from ambient.runtime import Runtime
from ambient.sources.maildir import deliver
from tests.daemon.mail import email_bytes
from tests.daemon.processors import AgentTestProcessor
from tests.daemon.test_worker import wait_for


class BrokenSource:
    name = "broken"

    async def poll(self, known):
        raise SourceError("imap broken: authentication failed")

    async def acknowledge(self, keys):
        return None

    async def close(self):
        return None


async def test_run_once_takes_maildir_messages_through_the_worker(settings, secrets) -> None:
    runtime = Runtime(settings, secrets)
    for i in range(3):
        deliver(settings.maildir_path, email_bytes(f"s{i}", message_id=f"<s{i}@x>"))
    runtime.processor = AgentTestProcessor()
    daemon = runtime.daemon
    assert await daemon.run_once() == {"new": 3, "processed": 3}
    assert runtime.ledger.counts().by_state["done"] == 3
    assert os.listdir(settings.maildir_path / "new") == []


async def test_a_failing_source_is_recorded_and_others_keep_working(settings, secrets) -> None:
    runtime = Runtime(settings, secrets)
    deliver(settings.maildir_path, email_bytes())
    runtime.processor = AgentTestProcessor()
    daemon = runtime.daemon
    daemon.sources.append(BrokenSource())
    result = await daemon.run_once()
    assert result["processed"] == 1
    states = {state.name: state for state in runtime.ledger.source_states()}
    assert "authentication failed" in (states["broken"].last_error or "")
    assert states["inbox"].last_error is None


async def test_running_daemon_picks_up_new_mail_and_stops_cleanly(settings, secrets) -> None:
    settings.sources[0].interval_seconds = 0.05
    settings.worker.poll_jitter_seconds = 0
    runtime = Runtime(settings, secrets)
    processor = AgentTestProcessor()
    runtime.processor = processor
    daemon = runtime.daemon
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    deliver(settings.maildir_path, email_bytes())
    await wait_for(lambda: runtime.ledger.counts().by_state["done"] == 1)
    stop.set()
    await asyncio.wait_for(running, timeout=10)
    assert daemon.scheduler is not None and not daemon.scheduler.running
    assert runtime.ledger.source_states()[0].polls >= 1


async def test_shutdown_releases_unfinished_items(settings, secrets) -> None:
    settings.worker.drain_seconds = 0.05
    runtime = Runtime(settings, secrets)
    processor = AgentTestProcessor(delay=60)
    runtime.processor = processor
    daemon = runtime.daemon
    deliver(settings.maildir_path, email_bytes())
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    await wait_for(lambda: processor.running == 1)
    stop.set()
    await asyncio.wait_for(running, timeout=10)
    (item,) = runtime.ledger.items()
    assert item.state == ItemState.NEW and item.lease_owner is None
