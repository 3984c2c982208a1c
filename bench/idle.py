"""Idle daemon: resident memory and CPU over a quiet period.

    .venv/bin/python bench/idle.py [--seconds 60]

Starts `ambient run` on embedded defaults (AMBIENT_MODEL=test, empty inbox) in a temporary
AMBIENT_HOME, waits until it has polled, then samples /proc for --seconds; with --runs N, N
daemons one after the other, and the median of each figure. Target: RSS under 100 MB.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import report  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6


def measure(seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        environ = {**os.environ, "AMBIENT_HOME": home, "AMBIENT_MODEL": "test"}
        environ.pop("PYTHONDONTWRITEBYTECODE", None)  # installed code has its bytecode
        ambient = [sys.executable, "-m", "ambient"]
        subprocess.run(
            [*ambient, "init", "--no-samples"], env=environ, check=True, capture_output=True
        )
        started = time.perf_counter()
        daemon = subprocess.Popen(
            [*ambient, "run", "--log-level", "WARNING"], env=environ, cwd=ROOT
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status = subprocess.run(
                    [*ambient, "status", "--json"], env=environ, capture_output=True, text=True
                )
                if '"alive": true' in status.stdout:
                    break
                time.sleep(0.2)
            ready = time.perf_counter() - started
            cpu_before, wall_before = cpu_seconds(daemon.pid), time.perf_counter()
            peak = rss_mb(daemon.pid)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(1)
                peak = max(peak, rss_mb(daemon.pid))
            cpu = cpu_seconds(daemon.pid) - cpu_before
            wall = time.perf_counter() - wall_before
            return {
                "ready_s": ready,
                "rss_mb": rss_mb(daemon.pid),
                "peak_rss_mb": peak,
                "cpu_percent": 100 * cpu / wall,
            }
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--runs", type=int, default=1, help="daemons measured (median)")
    args = parser.parse_args()
    runs = [measure(args.seconds) for _ in range(max(args.runs, 1))]
    figures = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    over = f" (median of {len(runs)})" if len(runs) > 1 else ""
    print(
        f"idle daemon over {args.seconds:.0f}s{over}: start-to-alive {figures['ready_s']:.1f}s, "
        f"RSS {figures['rss_mb']:.0f} MB (peak {figures['peak_rss_mb']:.0f} MB; target "
        f"< 100 MB), CPU {figures['cpu_percent']:.2f}%"
    )
    rss = figures["rss_mb"]
    report("idle daemon RSS", rss, "MB", "< 100 MB", rss < 100)
    report("idle daemon CPU", figures["cpu_percent"], "%")
    report("idle daemon start to alive", figures["ready_s"], "s")


if __name__ == "__main__":
    main()
