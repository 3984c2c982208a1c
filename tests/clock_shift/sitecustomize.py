"""Moves the wall clock of every Python process of a test run ahead, so a date dependency fails.

`scripts/test` puts this folder on PYTHONPATH with AMBIENT_TEST_CLOCK_SHIFT_DAYS=400 for a second
pass over the time-sensitive tests. Python imports `sitecustomize` at start-up, so the test
process and every ambient process it starts (the CLI, the TUI in tmux, daemons) see the same
shifted wall clock (`time.time`, `datetime.now`, …), while monotonic clocks stay true. A test
whose fixtures use the frozen test clock and whose code under test uses the system clock, or
one that only passes near the day it was written, fails in that pass.

(Debian's libfaketime was tried first: under it Python 3.11's `time.sleep` fails with EINVAL
when monotonic time is left alone, and hangs when it is shifted too.)
"""

from __future__ import annotations

import os

_days = os.environ.get("AMBIENT_TEST_CLOCK_SHIFT_DAYS")
if _days:
    from datetime import UTC, datetime, timedelta

    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(days=float(_days)), tick=True).start()
