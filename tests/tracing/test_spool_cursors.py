"""Each destination's cursor into the spool: no process deletes what another's destination still
needs, several forwarders on one database never share a lease, and a destination that is behind
loses only its own oldest rows when the spool is full."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from ambient.core.config import Secrets, Settings
from ambient.core.db import open_database
from ambient.core.ids import trace_id_for_item
from ambient.runtime import Runtime
from ambient.tracing.assembly import Tracing
from ambient.tracing.forwarder import SpanForwarder
from ambient.tracing.spool import Spool, SpooledBatch
from ambient.tracing.tables import SpoolKind
from ambient.tracing.tracer import ItemRef
from tests.conftest import FrozenClock
from tests.servers.langfuse_receiver import LangfuseProject
from tests.tracing.test_daemon_wiring import forwarder_job

SPANS = SpoolKind.SPANS
ITEM = ItemRef(trace_id=trace_id_for_item("inbox", "k"), source="inbox", key="k")
BOTH = ["langfuse", "otlp"]


def claim(spool: Spool, destination: str, max_bytes: int = 10_000) -> SpooledBatch | None:
    return spool.claim(destination, SPANS, max_bytes=max_bytes, lease_seconds=60)


def claimed(spool: Spool, destination: str, max_bytes: int = 10_000) -> SpooledBatch:
    batch = claim(spool, destination, max_bytes)
    assert batch is not None
    return batch


def spool_of(engine: Engine, clock: FrozenClock, rows: int, max_rows: int = 100) -> Spool:
    spool = Spool(engine, clock, max_rows=max_rows)
    for number in range(rows):
        assert spool.append(SPANS, bytes([number]), 1)
    return spool


# ---- a process that knows fewer destinations -----------------------------------------------
def test_a_process_that_knows_fewer_destinations_keeps_the_rows_another_cursor_needs(
    spool_engine: Engine, clock: FrozenClock
) -> None:
    spool = spool_of(spool_engine, clock, rows=3)
    spool.acknowledge(claimed(spool, "otlp", max_bytes=1), BOTH)  # the daemon: first row only
    everything = claimed(spool, "langfuse")
    spool.acknowledge(everything, ["langfuse"])  # `ambient eval run`: only the Langfuse keys

    assert spool.counts().spans == 2  # the daemon's OTLP endpoint has not had them yet
    assert spool.pending("otlp", SPANS) == 2
    rest = claimed(spool, "otlp")
    assert rest.ids == everything.ids[1:]
    spool.acknowledge(rest, BOTH)
    assert spool.counts().rows == 0


async def test_a_forwarder_without_the_daemons_otlp_endpoint_leaves_it_the_spans_it_lacks(
    tracing: Tracing, forwarder: SpanForwarder, langfuse_project: LangfuseProject
) -> None:
    spool = tracing.spool
    tracing.tracer.record_step(ITEM, "ingest")
    spool.release(claimed(spool, "otlp"), "HTTP 503")  # the daemon's OTLP endpoint is down
    tracing.tracer.record_step(ITEM, "action queued")
    assert spool.counts().spans == 2

    assert await forwarder.tick() == 2  # this process has the Langfuse keys only
    assert len(langfuse_project.received.spans) == 2
    assert (spool.counts().spans, spool.pending("otlp", SPANS)) == (2, 2)


async def test_the_daemon_retires_at_start_up_the_cursors_of_destinations_it_lacks(
    tracing_settings: Settings,
    langfuse_project: LangfuseProject,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = Runtime(tracing_settings, Secrets(langfuse_project.environment()), clock)
    try:
        spool = runtime.tracing.spool
        runtime.tracing.tracer.record_step(ITEM, "ingest")
        spool.release(claimed(spool, "otlp"), "HTTP 503")  # an OTLP endpoint the daemon had
        assert await tick_forwarder(runtime.tracing) == 1  # a CLI process: the row stays
        assert spool.counts().spans == 1

        with caplog.at_level(logging.INFO, logger="ambient.tracing"):
            job = forwarder_job(runtime.jobs)  # the daemon starts, with Langfuse only
        (retired,) = [r.getMessage() for r in caplog.records if "otlp" in r.getMessage()]
        assert "not configured" in retired
        assert spool.counts().rows == 0  # Langfuse, the daemon's only destination, had it
        runtime.tracing.tracer.record_step(ITEM, "action queued")
        assert job is not None and await job.tick() == 1
        assert spool.counts().rows == 0
    finally:
        await runtime.aclose()


async def tick_forwarder(tracing: Tracing) -> int:
    forwarder = tracing.forwarder()
    assert forwarder is not None
    try:
        return await forwarder.tick()
    finally:
        await forwarder.aclose()


# ---- several forwarders on one database ----------------------------------------------------
def _reads_a_cursor(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT") and "trace_spool_cursor" in statement


class Interleaving:
    """The first call runs on `first` until its transaction has just read a cursor; there the
    second call runs on `second` (another forwarder's engine) until it is done or waits on the
    first's lock; then the first goes on. Each call's result, or the exception it raised."""

    def __init__(self, first: Engine, second: Engine) -> None:
        self.first = first
        self.second = second
        self.sqlite = first.dialect.name == "sqlite"
        self._second_begins = threading.Event()

    def run(self, first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
        results: dict[str, Any] = {}
        thread = threading.Thread(target=_capture, args=(second, results, "second"))
        paused = False

        def pause(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            nonlocal paused
            if paused or not _reads_a_cursor(statement):
                return
            paused = True
            thread.start()
            while thread.is_alive() and not self._second_waits():
                thread.join(0.01)

        def begins(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.startswith("BEGIN"):
                self._second_begins.set()

        event.listen(self.first, "after_cursor_execute", pause)
        event.listen(self.second, "before_cursor_execute", begins)
        try:
            _capture(first, results, "first")
        finally:
            event.remove(self.first, "after_cursor_execute", pause)
            event.remove(self.second, "before_cursor_execute", begins)
        assert paused, "the first call never read a cursor"
        thread.join(60)
        assert not thread.is_alive()
        return results["first"], results["second"]

    def _second_waits(self) -> bool:
        if self.sqlite:  # the first holds the write lock: the second's BEGIN IMMEDIATE waits
            return self._second_begins.is_set()
        with self.first.connect() as connection:
            waiting = connection.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            return bool(waiting.scalar())


def _capture(call: Callable[[], Any], results: dict[str, Any], name: str) -> None:
    try:
        results[name] = call()
    except Exception as error:  # noqa: BLE001 - the test asserts on it
        results[name] = error


@pytest.fixture
def other_engine(spool_engine: Engine) -> Iterator[Engine]:
    """Another daemon's engine on the same database."""
    other = open_database(spool_engine.url.render_as_string(hide_password=False))
    yield other
    other.dispose()


@pytest.mark.parametrize("cursor", ["new", "known"])
def test_two_forwarders_claiming_one_cursor_at_once_never_both_take_the_batch(
    cursor: str, spool_engine: Engine, other_engine: Engine, clock: FrozenClock
) -> None:
    spool = spool_of(spool_engine, clock, rows=2)
    if cursor == "known":
        spool.release(claimed(spool, "otlp"), "HTTP 503")
    other = Spool(other_engine, clock, max_rows=100)

    first, second = Interleaving(spool_engine, other_engine).run(
        lambda: claim(spool, "otlp"), lambda: claim(other, "otlp")
    )

    assert isinstance(first, SpooledBatch) and len(first.ids) == 2
    assert second is None  # the lease is taken: no error, nothing sent twice


def test_acknowledgements_racing_leave_the_cursor_at_the_furthest_one(
    spool_engine: Engine, other_engine: Engine, clock: FrozenClock
) -> None:
    spool = spool_of(spool_engine, clock, rows=3)
    late = claimed(spool, "otlp", max_bytes=1)  # a forwarder hangs past its lease
    clock.advance(seconds=61)
    other = Spool(other_engine, clock, max_rows=100)
    further = claimed(other, "otlp", max_bytes=2)  # another takes over, and gets further
    assert further.ids == [late.ids[0], late.ids[0] + 1]

    results = Interleaving(spool_engine, other_engine).run(
        lambda: spool.acknowledge(late, BOTH), lambda: other.acknowledge(further, BOTH)
    )

    assert results == (None, None)
    assert spool.pending("otlp", SPANS) == 1  # never moved back to the late one's batch
    assert spool.counts().spans == 3  # Langfuse has none of them yet
    assert claimed(spool, "otlp").ids == [further.ids[-1] + 1]


def test_a_late_release_or_acknowledgement_leaves_the_lease_of_the_forwarder_that_took_over(
    spool_engine: Engine, clock: FrozenClock
) -> None:
    spool = spool_of(spool_engine, clock, rows=2)
    late = claimed(spool, "otlp", max_bytes=1)
    clock.advance(seconds=61)  # its forwarder hung past the lease: another takes over
    current = claimed(spool, "otlp", max_bytes=1)
    assert current.ids == late.ids

    spool.release(late, "timed out")  # the first one gives up, late
    assert claim(spool, "otlp") is None  # still the second one's
    spool.acknowledge(late, ["otlp"])  # or its post did arrive after all
    assert claim(spool, "otlp") is None
    assert spool.pending("otlp", SPANS) == 1  # the row it delivered counts

    spool.acknowledge(current, ["otlp"])
    assert claimed(spool, "otlp").ids == [late.ids[0] + 1]


# ---- a full spool --------------------------------------------------------------------------
def test_a_full_spool_drops_the_oldest_rows_only_the_destination_behind_still_needs(
    spool_engine: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    spool = spool_of(spool_engine, clock, rows=10, max_rows=10)
    spool.release(claimed(spool, "langfuse", max_bytes=1), "HTTP 503")  # Langfuse is down
    spool.acknowledge(claimed(spool, "otlp"), BOTH)  # the OTLP endpoint has everything

    with caplog.at_level(logging.WARNING, logger="ambient.tracing.spool"):
        accepted = [spool.append(SPANS, b"new", 1) for _ in range(3)]

    assert accepted == [True] * 3  # the healthy endpoint still gets every new span
    assert spool.counts().rows == 10
    assert (spool.pending("langfuse", SPANS), spool.pending("otlp", SPANS)) == (10, 3)
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 3
    assert all("dropping the oldest 1 span(s) only langfuse still needed" in w for w in warnings)
    assert claimed(spool, "langfuse", max_bytes=1).payloads == [bytes([3])]


def test_when_every_destination_is_behind_the_full_spool_drops_new_rows(
    spool_engine: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    spool = spool_of(spool_engine, clock, rows=10, max_rows=10)
    for destination in BOTH:
        spool.release(claimed(spool, destination), "HTTP 503")

    with caplog.at_level(logging.WARNING, logger="ambient.tracing.spool"):
        assert not spool.append(SPANS, b"new", 1)

    assert (spool.pending("langfuse", SPANS), spool.pending("otlp", SPANS)) == (10, 10)
    (warning,) = [record.getMessage() for record in caplog.records]
    assert "dropping new spans and scores" in warning
