"""Scale-out on PostgreSQL: N items shared by 1 and then 2 daemon processes.

    .venv/bin/python bench/scaleout.py [--items 400] [--model-ms 200] [--concurrency 4]

Starts a throwaway PostgreSQL cluster (tests/servers/postgres.py), ingests N items, then runs
K worker processes (each: the real Worker, a real agent on a FunctionModel that sleeps
--model-ms, --concurrency slots) until every item is done. Prints items/s for K=1 and K=2.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ambient.core.clock import SystemClock  # noqa: E402
from ambient.core.config import WorkerSettings  # noqa: E402
from ambient.core.db import open_database  # noqa: E402
from ambient.core.items import InboundItem  # noqa: E402
from ambient.core.ledger import Ledger  # noqa: E402
from ambient.daemon.worker import Worker  # noqa: E402
from bench.pipeline import BenchProcessor, message  # noqa: E402
from tests.servers.postgres import PostgresServer, _binaries  # noqa: E402


def work(url: str, name: str, concurrency: int, delay: float) -> None:
    async def run() -> None:
        engine = open_database(url)
        ledger = Ledger(engine, SystemClock(), WorkerSettings(concurrency=concurrency))
        worker = Worker(ledger, BenchProcessor(delay), ledger.settings, name)
        await worker.run_until_idle()
        engine.dispose()

    asyncio.run(run())


def one_run(server: PostgresServer, items: int, processes: int, conc: int, delay: float) -> float:
    url = server.create_database()
    engine = open_database(url)
    ledger = Ledger(engine, SystemClock(), WorkerSettings())
    ledger.ingest_many([InboundItem("inbox", f"k{i}", message(i)) for i in range(items)])
    started = time.perf_counter()
    workers = [
        multiprocessing.Process(target=work, args=(url, f"w{k}", conc, delay))
        for k in range(processes)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join()
    elapsed = time.perf_counter() - started
    done = ledger.counts().by_state["done"]
    engine.dispose()
    assert done == items, f"only {done} of {items} done"
    return items / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--model-ms", type=float, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    bin_dir = _binaries()
    if bin_dir is None:
        sys.exit("PostgreSQL binaries not found: run scripts/install-test-deps.sh")
    root = Path(tempfile.mkdtemp(prefix="ambient-bench-pg-"))
    root.chmod(0o755)
    server = PostgresServer(bin_dir, root)
    server.start()
    try:
        print(
            f"PostgreSQL scale-out: {args.items} items, model {args.model_ms:.0f} ms, "
            f"concurrency {args.concurrency} per process"
        )
        one = one_run(server, args.items, 1, args.concurrency, args.model_ms / 1000)
        two = one_run(server, args.items, 2, args.concurrency, args.model_ms / 1000)
        print(f"  1 process : {one:7.1f} items/s")
        print(f"  2 processes: {two:7.1f} items/s  ({two / one:.2f}x)")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
