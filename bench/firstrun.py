"""First run on a cold machine: fresh clone + empty pip cache → the daemon's first poll.

    .venv/bin/python bench/firstrun.py [--working-tree] [--nice 10] [--keep]

Clones the repository into a temporary directory, then, as a newcomer's `scripts/run` does,
runs `scripts/setup local` (with PIP_CACHE_DIR an empty directory: nothing built or downloaded
before is reused), `ambient init` and `ambient run`, in a temporary AMBIENT_HOME, until
`ambient status --json` shows the inbox's first poll; the daemon is then stopped by its PID.
Prints each step's seconds (setup's own steps as it reports them) and the total against the
goal. Slow: minutes, most of them compiling llama.cpp on every core (bench/all.py runs it only
with --first-run).

--working-tree measures the working tree's uncommitted changes too (copied over the clone);
--nice lowers the priority of the set-up (the default, 10, is for a machine others share).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.results import report  # noqa: E402

GOAL_SECONDS = 180
STEP = re.compile(r"^setup: (?P<what>.+?)(?: … |: )done in (?:(?P<m>\d+)m)?(?P<s>\d+)s$")


def clone(into: Path, working_tree: bool) -> None:
    git = ["git", "-C", str(ROOT)]
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(into)], check=True)
    if not working_tree:
        return
    changed = subprocess.run(
        [*git, "ls-files", "--modified", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in changed:
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
        elif not source.exists():
            (into / name).unlink(missing_ok=True)  # deleted in the working tree


def setup(checkout: Path, environ: dict[str, str], niceness: int) -> dict[str, float]:
    """Runs `scripts/setup local`, echoing its lines; returns setup's own step durations."""
    steps: dict[str, float] = {}
    command = ["nice", "-n", str(niceness), "sh", "scripts/setup", "local"]
    with subprocess.Popen(
        command, cwd=checkout, env=environ, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print("   ", line, end="", flush=True)
            for part in line.rstrip("\n").split("\n"):
                found = STEP.match(part)
                if found:
                    steps[found["what"]] = int(found["m"] or 0) * 60 + int(found["s"])
    if process.returncode != 0:
        raise SystemExit(f"scripts/setup failed (exit {process.returncode})")
    return steps


def first_poll(checkout: Path, environ: dict[str, str], timeout: float = 300) -> float:
    """Starts the daemon, waits until `ambient status --json` shows a source's first poll and
    stops the daemon; returns the seconds from its start to that poll seen."""
    ambient = str(checkout / ".venv" / "bin" / "ambient")
    log = (checkout / "daemon.log").open("w")
    started = time.perf_counter()
    daemon = subprocess.Popen(
        [ambient, "run"], cwd=checkout, env=environ, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon stopped (exit {daemon.returncode}): {log.name}")
            status = subprocess.run(
                [ambient, "status", "--json"], env=environ, capture_output=True, text=True
            )
            if status.returncode == 0:
                sources = json.loads(status.stdout).get("sources", {})
                if any(source.get("last_poll_at") for source in sources.values()):
                    return time.perf_counter() - started
            time.sleep(0.5)
        raise SystemExit(f"no poll within {timeout:.0f} s: {log.name}")
    finally:
        daemon.send_signal(signal.SIGTERM)  # it drains its in-flight item first: up to 30 s
        try:
            daemon.wait(timeout=45)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()


def load() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--working-tree", action="store_true", help="with uncommitted changes")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the set-up")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="ambient-firstrun-"))
    checkout, home, cache = scratch / "ambient", scratch / "home", scratch / "pip-cache"
    cache.mkdir()
    environ = {**os.environ, "PIP_CACHE_DIR": str(cache), "AMBIENT_HOME": str(home)}
    for variable in ("VIRTUAL_ENV", "PYTHONPATH", "AMBIENT_MODEL", "AMBIENT_BENCH_RESULTS"):
        environ.pop(variable, None)
    print(f"first run in {scratch} (load {load()})", flush=True)
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        clone(checkout, args.working_tree)
        timings["git clone"] = time.perf_counter() - started
        mark = time.perf_counter()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        steps = setup(checkout, environ, args.nice)
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        timings["scripts/setup local"] = time.perf_counter() - mark
        mark = time.perf_counter()
        subprocess.run(
            [str(checkout / ".venv" / "bin" / "ambient"), "init"],
            cwd=checkout,
            env=environ,
            check=True,
            capture_output=True,
        )
        timings["ambient init"] = time.perf_counter() - mark
        timings["ambient run → first poll"] = first_poll(checkout, environ)
        total = sum(timings.values())  # not the daemon's stop after it
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    print(f"\n== first run: fresh clone, empty pip cache, {os.cpu_count()} cores ==")
    for what, seconds in timings.items():
        print(f"{what:<58} {seconds:7.1f} s")
        if what == "scripts/setup local":
            for step, reported in steps.items():
                print(f"    {step:<54} {reported:5.0f} s")
            print(f"    {'CPU time of the set-up (all its processes)':<54} {cpu:5.0f} s")
    met = total < GOAL_SECONDS
    print(f"{'total':<58} {total:7.1f} s   goal < {GOAL_SECONDS} s: {'met' if met else 'NOT MET'}")
    print(f"load average at the end: {load()}")
    report("first run: fresh clone → daemon's first poll", round(total), "s", "< 180 s", met)
    report("first run: scripts/setup local, CPU time", round(cpu), "s")


if __name__ == "__main__":
    main()
