"""Run every benchmark, print their figures, then one table of the headline figures and goals
(not part of the test run).

.venv/bin/python bench/all.py [--quick] [--first-run]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = Path(tempfile.mkstemp(prefix="ambient-bench-", suffix=".jsonl")[1])


def run(script: str, *args: str) -> None:
    print(f"\n$ bench/{script} {' '.join(args)}", flush=True)
    # bench.results.report() appends its rows to RESULTS; `bench` is importable from the root
    environ = {**os.environ, "AMBIENT_BENCH_RESULTS": str(RESULTS)}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    completed = subprocess.run([sys.executable, str(BENCH / script), *args], env=environ)
    if completed.returncode != 0:
        print(f"bench/{script} failed (exit {completed.returncode}); going on", flush=True)


def table() -> None:
    """The headline figures of every benchmark that ran, with their goals."""
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    RESULTS.unlink(missing_ok=True)
    if not rows:
        return
    print("\n== ambient benchmarks: headline figures ==")
    width = max(len(row["what"]) for row in rows)
    for row in rows:
        value = row["value"]
        shown = str(value)
        if isinstance(value, float):
            shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
        met = {True: "met", False: "NOT MET", None: ""}[row["met"]]
        figure = f"{shown} {row['unit']}".strip()
        print(f"{row['what']:<{width}}  {figure:>14}  {row['goal'] or '':<12} {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller runs, 10 s idle sample, evals without the offline model",
    )
    parser.add_argument(
        "--first-run",
        action="store_true",
        help="also the cold first run (fresh clone, empty pip cache: minutes of compiling)",
    )
    args = parser.parse_args()
    messages = "500" if args.quick else "2000"
    run(
        "pipeline.py",
        "--messages",
        messages,
        "--concurrency",
        "1",
        "4",
        "16",
        "--model-ms",
        "0",
        "200",
    )
    run("scaleout.py", "--items", "200" if args.quick else "400")
    run("idle.py", "--seconds", "10" if args.quick else "60")
    if (BENCH / "tui.py").exists():
        run("tui.py")
    if args.quick:  # the bundled offline model takes 4-12 s a mail: left out
        print("\n(--quick: evals without the bundled offline model, on 40 corpus messages)")
        run("evals.py", "--messages", "40", "--models", "test", "baseline")
    else:
        run("evals.py", "--messages", "120", "--local-limit", "12")
    run("prerules.py", "--messages", "40" if args.quick else "120")
    run("alerts.py", "--bursts", *(["200"] if args.quick else ["200", "1000"]))
    run("tokens.py", "--messages", "40" if args.quick else "120")
    if args.first_run:
        run("firstrun.py")
    table()


if __name__ == "__main__":
    main()
