"""The shifted-clock pass proves itself at start: its clocks must be moved, or it tests nothing.

`site` swallows an error in `sitecustomize` (time-machine missing, a typo), so the pass could
run on the true clock and pass. The wall clock is compared with the file system's: a file's
modification time comes from the kernel, which time-machine does not move.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping

DAY = 86400.0
TOLERANCE_SECONDS = 3600.0  # start-up time and coarse file-system timestamps, with room
MEASURE = (
    "import os, tempfile, time\n"
    "handle, path = tempfile.mkstemp()\n"
    "os.close(handle)\n"
    "print(time.time() - os.stat(path).st_mtime)\n"
    "os.unlink(path)\n"
)


def seconds_ahead() -> float:
    """How far this process's wall clock is ahead of the file system's."""
    handle, path = tempfile.mkstemp()
    try:
        os.close(handle)
        return time.time() - os.stat(path).st_mtime
    finally:
        os.unlink(path)


def child_seconds_ahead(environment: Mapping[str, str]) -> float | None:
    """The same, measured by a child Python process with this environment (None: it failed)."""
    child = subprocess.run(
        [sys.executable, "-c", MEASURE],
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        return float(child.stdout.strip())
    except ValueError:
        return None


def clock_shift_problem(days: float, ahead: float, child_ahead: float | None) -> str | None:
    """Why a pass meant to run `days` ahead would not, or None."""
    wanted = f"AMBIENT_TEST_CLOCK_SHIFT_DAYS={days:g}"
    hook = (
        "is tests/clock_shift on PYTHONPATH, and does `python -c 'import sitecustomize'` "
        "run there without an error?"
    )
    if abs(ahead - days * DAY) > TOLERANCE_SECONDS:
        return (
            f"{wanted}, but this process's clock is {ahead / DAY:.2f} days ahead of the file "
            f"system's: the shifted-clock pass would test nothing ({hook})"
        )
    if child_ahead is None or abs(child_ahead - days * DAY) > TOLERANCE_SECONDS:
        measured = "could not be read" if child_ahead is None else f"{child_ahead / DAY:.2f}"
        return (
            f"{wanted}, but a child Python process started with the tests' environment is "
            f"{measured} days ahead: the CLI, TUI and daemons the tests start would run on "
            f"another clock ({hook})"
        )
    return None
