"""Scale-out on a real PostgreSQL: several daemons share one database."""

import asyncio
import threading

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import ambient.tables  # noqa: F401
from ambient.core.clock import SystemClock
from ambient.core.config import WorkerSettings
from ambient.core.db import open_database
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from tests.daemon.mail import email_bytes


def items(count: int) -> list[InboundItem]:
    return [
        InboundItem("inbox", f"k{i}", email_bytes(message_id=f"<p{i}@x>")) for i in range(count)
    ]


def test_migrations_on_postgres_match_the_models(postgres_url) -> None:
    engine = open_database(postgres_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
    engine.dispose()


def test_concurrent_claims_skip_locked_rows_and_never_share_an_item(postgres_url) -> None:
    engine = open_database(postgres_url)
    Ledger(engine, SystemClock(), WorkerSettings()).ingest_many(items(300))
    claimed: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        own_engine = open_database(postgres_url)
        ledger = Ledger(own_engine, SystemClock(), WorkerSettings())
        mine: list[int] = []
        while batch := ledger.claim(name, 7):
            mine.extend(item.id for item in batch)
            for item in batch:
                ledger.complete(item.id, name, ItemState.DONE)
        claimed[name] = mine
        own_engine.dispose()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    every = [item_id for ids in claimed.values() for item_id in ids]
    assert len(every) == 300 and len(set(every)) == 300
    assert sum(1 for ids in claimed.values() if ids) >= 2  # the work was actually shared
    assert Ledger(engine, SystemClock(), WorkerSettings()).counts().by_state["done"] == 300
    engine.dispose()


def test_killed_workers_items_return_after_the_lease_and_run_once(postgres_url, clock) -> None:
    engine = open_database(postgres_url)
    settings = WorkerSettings(lease_seconds=60)
    crashed = Ledger(engine, clock, settings)
    crashed.ingest_many(items(10))
    assert len(crashed.claim("worker-a", 5)) == 5  # then worker-a is killed
    survivor = Ledger(engine, clock, settings)
    first = survivor.claim("worker-b", 100)
    assert len(first) == 5  # only the unclaimed ones
    for item in first:
        assert survivor.complete(item.id, "worker-b", ItemState.DONE)
    clock.advance(seconds=61)
    second = survivor.claim("worker-b", 100)
    assert len(second) == 5 and {i.id for i in first}.isdisjoint({i.id for i in second})
    for item in second:
        assert survivor.complete(item.id, "worker-b", ItemState.DONE)
    assert not crashed.complete(second[0].id, "worker-a", ItemState.DONE)
    assert survivor.counts().by_state["done"] == 10
    engine.dispose()


async def test_only_one_daemon_polls_a_source_at_a_time(postgres_url) -> None:
    engine = open_database(postgres_url)
    first = Ledger(engine, SystemClock(), WorkerSettings())
    other_engine = open_database(postgres_url)
    second = Ledger(other_engine, SystemClock(), WorkerSettings())
    held = await asyncio.to_thread(first.try_poll_lock, "inbox")
    assert held not in (False, True)
    assert await asyncio.to_thread(second.try_poll_lock, "inbox") is False
    other_source = second.try_poll_lock("work-imap")
    assert other_source is not False
    second.release_poll_lock(other_source)
    first.release_poll_lock(held)
    again = second.try_poll_lock("inbox")
    assert again is not False
    second.release_poll_lock(again)
    engine.dispose()
    other_engine.dispose()
