import asyncio
import time

from ambient.core.clock import SystemClock
from ambient.core.config import WorkerSettings
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from ambient.core.processing import PermanentItemError
from ambient.daemon.worker import Worker
from tests.daemon.mail import email_bytes
from tests.daemon.processors import AgentTestProcessor


def fill(ledger: Ledger, count: int, subject: str = "Hello") -> list[int]:
    items = [
        InboundItem("inbox", f"k{i}", email_bytes(subject, message_id=f"<m{i}@x>"))
        for i in range(count)
    ]
    return [result.item_id for result in ledger.ingest_many(items)]


async def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_worker_processes_every_item_to_done_with_triage(engine) -> None:
    ledger = Ledger(engine, SystemClock(), WorkerSettings(concurrency=3))
    ids = fill(ledger, 10)
    processor = AgentTestProcessor()
    worker = Worker(ledger, processor, ledger.settings, "w")
    assert await worker.run_until_idle() == 10
    assert sorted(processor.seen) == ids
    assert ledger.counts().by_state["done"] == 10
    assert '"decision": "notify"' in (ledger.get(ids[0]).triage_json or "")


async def test_worker_never_exceeds_its_concurrency_limit(engine) -> None:
    ledger = Ledger(engine, SystemClock(), WorkerSettings(concurrency=4))
    fill(ledger, 20)
    processor = AgentTestProcessor(delay=0.02)
    worker = Worker(ledger, processor, ledger.settings, "w")
    await worker.run_until_idle()
    assert processor.max_running == 4


async def test_processing_error_fails_the_item_and_the_worker_goes_on(engine) -> None:
    ledger = Ledger(engine, SystemClock(), WorkerSettings(backoff_seconds=60))
    (bad,) = fill(ledger, 1, subject="please explode")
    good = ledger.ingest(InboundItem("inbox", "fine", email_bytes(message_id="<ok@x>"))).item_id
    worker = Worker(ledger, AgentTestProcessor(), ledger.settings, "w")
    await worker.run_until_idle()
    failed = ledger.get(bad)
    assert failed.state == ItemState.FAILED
    assert failed.last_error == "RuntimeError: model provider returned 500"
    assert ledger.get(good).state == ItemState.DONE


async def test_permanent_error_quarantines(engine) -> None:
    class Refusing:
        async def process(self, item):
            raise PermanentItemError("attachment type not supported")

    ledger = Ledger(engine, SystemClock(), WorkerSettings())
    (item_id,) = fill(ledger, 1)
    await Worker(ledger, Refusing(), ledger.settings, "w").run_until_idle()
    assert ledger.get(item_id).state == ItemState.QUARANTINED


async def test_drain_releases_items_that_do_not_finish_in_the_grace_period(engine) -> None:
    ledger = Ledger(engine, SystemClock(), WorkerSettings(concurrency=2))
    ids = fill(ledger, 2)
    processor = AgentTestProcessor(delay=30)
    worker = Worker(ledger, processor, ledger.settings, "w")
    await worker.tick()
    await wait_for(lambda: processor.running == 2)
    await worker.drain(grace_seconds=0.05)
    for item_id in ids:
        item = ledger.get(item_id)
        assert item.state == ItemState.NEW and item.attempts == 0 and item.lease_owner is None
    assert await worker.tick() == 0  # drained: takes no new work


async def test_drain_lets_quick_items_finish(engine) -> None:
    ledger = Ledger(engine, SystemClock(), WorkerSettings(concurrency=2))
    ids = fill(ledger, 2)
    processor = AgentTestProcessor(delay=0.05)
    worker = Worker(ledger, processor, ledger.settings, "w")
    await worker.tick()
    await worker.drain(grace_seconds=10)
    assert all(ledger.get(i).state == ItemState.DONE for i in ids)


async def test_a_processor_with_its_own_limit_runs_one_item_at_a_time(engine) -> None:
    class InProcessModel(AgentTestProcessor):
        max_concurrency = 1  # like the bundled offline model: runs take turns on it

    ledger = Ledger(engine, SystemClock(), WorkerSettings(concurrency=8))
    fill(ledger, 6)
    processor = InProcessModel(delay=0.01)
    await Worker(ledger, processor, ledger.settings, "w").run_until_idle()
    assert processor.max_running == 1 and len(processor.seen) == 6


async def test_the_running_daemon_warms_the_processor_up_once(settings, secrets) -> None:
    from ambient.runtime import Runtime

    class Warming(AgentTestProcessor):
        warmed = 0

        async def warm_up(self) -> None:
            Warming.warmed += 1

    runtime = Runtime(settings, secrets)
    runtime.processor = Warming()
    daemon = runtime.daemon
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    await wait_for(lambda: Warming.warmed == 1)
    stop.set()
    await asyncio.wait_for(running, timeout=10)
