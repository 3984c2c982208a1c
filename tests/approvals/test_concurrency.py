"""Two deciders on the same rows at the same moment: exactly one decision per row wins."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ambient.approvals.audit import AuditLog
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval
from ambient.core.clock import SystemClock
from ambient.core.config import Settings
from ambient.core.db import make_engine, open_database
from ambient.core.errors import DecisionError
from ambient.core.items import InboundItem
from ambient.core.ledger import Ledger
from tests.approvals.conftest import THREAD_START, context_for, reply
from tests.conftest import child_environment

REPO = Path(__file__).resolve().parents[2]
ROWS = 25


def _queue_rows(engine: Engine, settings: Settings) -> list[Approval]:
    clock = SystemClock()
    ledger = Ledger(engine, clock, settings.worker)
    item_id = ledger.ingest(InboundItem("inbox", "race", THREAD_START)).item_id
    queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
    drafts = [reply(body=f"draft {n}") for n in range(ROWS)]
    return queue.queue_drafts(
        context=context_for(ledger, item_id), trace_id="1" * 32, run_state=None, drafts=drafts
    )


def _assert_one_winner_per_row(engine: Engine, settings: Settings, wins: Counter[int]) -> None:
    queue = ApprovalQueue(engine, SystemClock(), settings, PolicyGate.from_settings(settings))
    rows = queue.list(limit=ROWS)
    assert len(rows) == ROWS
    assert all(wins[row.id] == 1 for row in rows), wins
    for row in rows:  # the row holds the winner's decision, and the log agrees
        assert row.decided_by in ("approve-process", "reject-process")
        expected = "approved" if row.decided_by == "approve-process" else "rejected"
        assert row.status.value == expected
    assert AuditLog(engine).verify_chain().ok


def test_two_processes_deciding_the_same_rows_only_one_wins_each(
    settings: Settings, engine: Engine, tmp_path: Path
):
    rows = _queue_rows(engine, settings)
    pairs = [f"{row.id}:{row.shown_hash}" for row in rows]
    go = tmp_path / "go"
    env = child_environment()
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.approvals.decide_worker",
                settings.resolved_database_url,
                decision,
                str(go),
                *pairs,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for decision in ("approve", "reject")
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        go.touch()
        outputs = [worker.communicate(timeout=60) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    wins: Counter[int] = Counter()
    for stdout, _stderr in outputs:
        for line in stdout.splitlines():
            approval_id, verdict, *_ = line.split(" ", 2)
            if verdict == "won":
                wins[int(approval_id)] += 1
            else:
                assert "is already" in line
    _assert_one_winner_per_row(engine, settings, wins)


def _race_in_threads(url: str, settings: Settings, rows: list[Approval]) -> Counter[int]:
    barrier = threading.Barrier(2)
    wins: Counter[int] = Counter()
    lock = threading.Lock()

    def decide(decision: str) -> None:
        engine = make_engine(url)  # a separate engine: its own connections, like another process
        queue = ApprovalQueue(engine, SystemClock(), settings, PolicyGate.from_settings(settings))
        barrier.wait()
        for row in rows:
            assert row.id is not None
            try:
                if decision == "approve":
                    queue.approve(row.id, shown_hash=row.shown_hash, actor="approve-process")
                else:
                    queue.reject(
                        row.id, shown_hash=row.shown_hash, reason="r", actor="reject-process"
                    )
            except DecisionError:
                continue
            with lock:
                wins[row.id] += 1
        engine.dispose()

    threads = [threading.Thread(target=decide, args=(d,)) for d in ("approve", "reject")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return wins


def test_two_engines_racing_in_threads_on_sqlite(settings: Settings, engine: Engine):
    rows = _queue_rows(engine, settings)
    wins = _race_in_threads(settings.resolved_database_url, settings, rows)
    _assert_one_winner_per_row(engine, settings, wins)


@pytest.mark.slow
def test_two_engines_racing_on_postgres_lock_the_row(settings: Settings, postgres_url: str):
    engine = open_database(postgres_url)
    try:
        rows = _queue_rows(engine, settings)
        wins = _race_in_threads(postgres_url, settings, rows)
        _assert_one_winner_per_row(engine, settings, wins)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_two_outboxes_on_postgres_never_claim_the_same_action(
    settings: Settings, secrets, postgres_url: str
):
    from ambient.approvals.outbox import Outbox

    engine = open_database(postgres_url)
    try:
        rows = _queue_rows(engine, settings)
        queue = ApprovalQueue(engine, SystemClock(), settings, PolicyGate.from_settings(settings))
        for row in rows:
            assert row.id is not None
            queue.approve(row.id, shown_hash=row.shown_hash, actor="me")
        settings.outbox.batch_size = 5
        barrier = threading.Barrier(2)
        claimed: dict[str, list[int]] = {"a": [], "b": []}

        def claim(owner: str) -> None:
            own_engine = make_engine(postgres_url)
            outbox = Outbox(
                own_engine,
                SystemClock(),
                settings,
                secrets,
                PolicyGate.from_settings(settings),
                {"reply_email": None},  # type: ignore[dict-item]
                owner=owner,
            )
            barrier.wait()
            while batch := outbox.claim():
                claimed[owner].extend(row.id for row in batch if row.id is not None)
            own_engine.dispose()

        threads = [threading.Thread(target=claim, args=(owner,)) for owner in claimed]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not set(claimed["a"]) & set(claimed["b"])
        assert sorted(claimed["a"] + claimed["b"]) == sorted(row.id for row in rows)
    finally:
        engine.dispose()
