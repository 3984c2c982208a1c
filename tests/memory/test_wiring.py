"""The daemon runs reflection as a periodic job."""

from __future__ import annotations

from collections.abc import Callable

from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ReflectionStatus
from ambient.core.config import Secrets, Settings
from ambient.memory.store import MemoryStore
from ambient.runtime import Runtime
from tests.conftest import FrozenClock


async def test_the_reflection_job_is_wired_into_the_daemon(
    settings: Settings,
    secrets: Secrets,
    clock: FrozenClock,
    queue: ApprovalQueue,
    store: MemoryStore,
    drafted_reply: Callable[[], Approval],
) -> None:
    row = drafted_reply()
    assert row.id is not None
    queue.reject(row.id, shown_hash=queue.shown_hash(row), reason="no", actor="test")
    runtime = Runtime(settings, secrets, clock)

    (job,) = [job for job in runtime.jobs if job.name == "memory-reflection"]
    finished = await job.tick()

    assert job.name == "memory-reflection"
    assert job.interval_seconds == settings.memory.reflect_interval_seconds
    assert finished == 1
    assert queue.get(row.id).reflection_status == ReflectionStatus.DONE
    await runtime.aclose()
