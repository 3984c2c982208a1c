"""Run every benchmark and print their figures (not part of the test run).

.venv/bin/python bench/all.py [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def run(script: str, *args: str) -> None:
    print(f"\n$ bench/{script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(BENCH / script), *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller runs, 10 s idle sample, evals without the offline model",
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


if __name__ == "__main__":
    main()
