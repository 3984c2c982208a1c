"""The TUI with 10,000 pending actions: time to first paint and keystroke-to-decision-stored.

    .venv/bin/python bench/tui.py [--rows 10000] [--decisions 30]

Targets: first paint under 1 s, a decision stored under 50 ms after its key (p95). Runs the real
app headless (Textual's test driver) at 80x24 over a SQLite database in a temporary AMBIENT_HOME.
"First paint" is to the first frame that shows the listing: from building the app (everything
imported already), and from launching a fresh process that goes the way `ambient tui` does
(`ambient.cli.main(["tui"])`: its imports, the settings and their checks, the database and its
migration check; only the terminal is Textual's headless one). The fresh process is launched
--cold-runs times after one discarded launch that writes the bytecode (as `pip install` does;
PYTHONDONTWRITEBYTECODE is dropped for it), and the median is reported. A decision is timed
from the key event to the commit returning in the worker thread.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Only these at the top: the fresh process of --paint-only runs this module too, and it imports
# what `ambient tui` imports, no more (the seeding's modules are imported where they are used).
from bench.results import report  # noqa: E402

if TYPE_CHECKING:
    from ambient.core.config import Secrets, Settings


def message(number: int) -> bytes:
    return (
        f"From: Person {number} <person{number}@example.com>\r\n"
        f"To: me@example.org\r\nSubject: Question number {number}\r\n"
        f"Message-ID: <bench-{number}@example.com>\r\n"
        "Date: Tue, 24 Nov 2026 08:30:00 +0000\r\n\r\n"
        f"Hello, this is message {number}. Could you have a look?\r\n"
    ).encode()


def seed(settings: Settings, rows: int) -> None:
    """`rows` items awaiting approval, one pending reply each (bulk, like a long weekend)."""
    from ambient.approvals.shown import canonical_json, compute_shown_hash
    from ambient.approvals.tables import Approval, ApprovalStatus
    from ambient.core.clock import SystemClock
    from ambient.core.db import open_database, write_session
    from ambient.core.items import InboundItem, ItemState
    from ambient.core.ledger import Ledger
    from ambient.core.tables import Item

    engine = open_database(settings.resolved_database_url)
    clock = SystemClock()
    ledger = Ledger(engine, clock, settings.worker)
    results = ledger.ingest_many(
        [InboundItem(source="inbox", key=f"k{n}", raw=message(n)) for n in range(rows)]
    )
    now = clock.now()
    with write_session(engine) as session:
        for number, result in enumerate(results):
            item = session.get(Item, result.item_id)
            assert item is not None
            item.state = ItemState.AWAITING_APPROVAL
            session.add(item)
            row = Approval(
                item_id=result.item_id,
                kind="reply_email",
                tool_call_id=f"call-{number}",
                args_json=canonical_json(
                    {
                        "to": [f"person{number}@example.com"],
                        "cc": [],
                        "subject": f"Re: Question number {number}",
                        "body": f"Hi,\n\nThanks for message {number}; I will look at it.\n\nMe",
                        "attachments": [],
                    }
                ),
                rationale="A direct question from a known contact.",
                status=ApprovalStatus.PENDING,
                item_version=f"{result.item_id}:bench",
                thread_addresses_json=canonical_json([f"person{number}@example.com"]),
                thread_head_id=result.item_id,
                created_at=now,
                queued_at=now,
            )
            row.shown_hash = compute_shown_hash(row)
            session.add(row)
    engine.dispose()


def query_costs(settings: Settings) -> dict[str, float]:
    from ambient.core.db import open_database
    from ambient.tui import queries
    from ambient.tui.views import QueueFilter

    engine = open_database(settings.resolved_database_url)
    token_times, listing_times = [], []
    for _ in range(5):
        start = time.perf_counter()
        queries.queue_token(engine, QueueFilter())
        token_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        queries.queue_entries(engine, QueueFilter())
        listing_times.append(time.perf_counter() - start)
    engine.dispose()
    return {"token": statistics.median(token_times), "listing": statistics.median(listing_times)}


async def drive(settings: Settings, secrets: Secrets, rows: int, decisions: int) -> dict[str, Any]:
    from ambient.core.db import open_database
    from ambient.runtime import Runtime
    from ambient.tui.app import make_app
    from ambient.tui.screens.queue import QueueScreen
    from ambient.tui.widgets.detail import DetailPane
    from ambient.tui.widgets.row_list import RowList

    engine = open_database(settings.resolved_database_url)
    runtime = Runtime(settings, secrets, actor="bench", engine=engine)
    started = time.perf_counter()
    app = make_app(runtime, warm_up_tracing=True)  # as `ambient tui` does
    stored_at: list[float] = []
    began_at: list[float] = []
    backend = app.backend
    approve = backend.approve

    def timed_approve(*args: Any, **kwargs: Any) -> Any:
        began_at.append(time.perf_counter())
        report = approve(*args, **kwargs)
        stored_at.append(time.perf_counter())
        return report

    backend.approve = timed_approve  # type: ignore[method-assign]
    latencies: list[float] = []
    commits: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        while not (isinstance(app.screen, QueueScreen) and app.screen.loaded):
            await asyncio.sleep(0.001)
        await pilot.pause()  # the frame with the listing is composed and written
        first_paint = time.perf_counter() - started
        row_list = app.screen.query_one(RowList)
        while len(row_list.rows) < rows:  # the first page paints first, the rest follows
            await asyncio.sleep(0.005)
        all_listed = time.perf_counter() - started
        # a human reads the first draft for a while: tracing opens meanwhile (as in `ambient tui`)
        events = runtime.approval_events
        deadline = time.perf_counter() + 10
        while not getattr(events, "opened", True) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        for _ in range(decisions):
            key = row_list.current_key
            while (view := app.screen.query_one(DetailPane).view) is None or view.id != key:
                await asyncio.sleep(0.001)  # the human reads the draft before deciding
            before = len(stored_at)
            pressed = time.perf_counter()
            await pilot.press("a")
            while len(stored_at) == before:
                await asyncio.sleep(0.0005)
            latencies.append(stored_at[-1] - pressed)
            commits.append(stored_at[-1] - began_at[-1])
            while row_list.current_key == key:
                await asyncio.sleep(0.001)
    runtime.close()  # tracing, opened by the first decision
    engine.dispose()
    return {
        "first_paint": first_paint,
        "all_listed": all_listed,
        "latencies": latencies,
        "commits": commits,
    }


def paint_only(started: float) -> float:
    """In a fresh process, the way `ambient tui` goes (`ambient.cli.main(["tui"])`: imports,
    settings and their checks, the runtime, the database and its migration check, the app) to
    the first frame with the rows; only the terminal is the headless test driver's."""
    import ambient.tui.app
    from ambient.cli import main

    painted: list[float] = []

    def run_headless(runtime: Any, *, editor: str | None) -> int:
        from ambient.tui.screens.queue import QueueScreen

        runtime.actor = ambient.tui.app.default_actor()
        app = ambient.tui.app.make_app(runtime, editor=editor, warm_up_tracing=True)

        async def paint() -> None:
            async with app.run_test(size=(80, 24)) as pilot:
                while not (isinstance(app.screen, QueueScreen) and app.screen.loaded):
                    await asyncio.sleep(0.001)
                await pilot.pause()
                painted.append(time.time() - started)

        asyncio.run(paint())
        return 0

    ambient.tui.app.run_tui = run_headless  # `ambient tui` looks it up when it runs
    exit_code = main(["tui"])
    if exit_code != 0 or not painted:
        raise SystemExit(f"ambient tui failed (exit {exit_code})")
    return painted[0]


def cold_start(home: str) -> float:
    """Seconds from launching a new Python process to its first frame showing the rows."""
    environ = {**os.environ, "AMBIENT_HOME": home}
    environ.pop("PYTHONDONTWRITEBYTECODE", None)  # installed code has its bytecode
    started = time.time()
    completed = subprocess.run(
        [sys.executable, __file__, "--paint-only", str(started)],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(completed.stdout.strip().splitlines()[-1])


def percentile_95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(int(len(ordered) * 0.95) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=40)
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes (median)")
    parser.add_argument("--paint-only", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.paint_only is not None:
        print(paint_only(args.paint_only))
        return
    from ambient.core.config import load_settings

    with tempfile.TemporaryDirectory(prefix="ambient-bench-tui-") as home:
        os.environ["AMBIENT_HOME"] = home
        os.environ.setdefault("AMBIENT_MODEL", "test")
        settings, secrets = load_settings()
        start = time.perf_counter()
        seed(settings, args.rows)
        print(f"seeded {args.rows} pending actions in {time.perf_counter() - start:.1f} s")
        costs = query_costs(settings)
        print(
            f"poll change token: {costs['token'] * 1000:.1f} ms; "
            f"full listing of {args.rows}: {costs['listing'] * 1000:.0f} ms"
        )
        figures = asyncio.run(drive(settings, secrets, args.rows, args.decisions))
        cold_start(home)  # writes the bytecode; not counted
        colds = [cold_start(home) for _ in range(max(args.cold_runs, 1))]
    cold = statistics.median(colds)
    latencies = figures["latencies"]
    p95, median = percentile_95(latencies), statistics.median(latencies)
    print(
        f"time to first paint ({args.rows} rows, 80x24): {figures['first_paint']:.3f} s from "
        f"building the app (target < 1 s; all {args.rows} listed at "
        f"{figures['all_listed']:.3f} s); from launching a fresh process (`ambient tui`'s "
        f"imports, settings, migration check): median {cold:.3f} s of {len(colds)} "
        f"(min {min(colds):.3f}, max {max(colds):.3f}; target < 1 s)"
    )
    print(
        f"keystroke to decision stored ({len(latencies)} approvals): median "
        f"{median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max "
        f"{max(latencies) * 1000:.1f} ms (target p95 < 50 ms); of which the database commit: "
        f"median {statistics.median(figures['commits']) * 1000:.1f} ms"
    )
    report("TUI first paint, 10k pending, fresh process", cold, "s", "< 1 s", cold < 1)
    once = figures["first_paint"]
    report("TUI first paint, 10k pending, once imported", once, "s", "< 1 s", once < 1)
    report("TUI keystroke -> decision stored, p95", p95 * 1000, "ms", "< 50 ms", p95 < 0.05)
    report("TUI keystroke -> decision stored, median", median * 1000, "ms")


if __name__ == "__main__":
    main()
