"""The shifted-clock pass fails at start when its clock did not move, in the tests or their
children; a pass whose clocks moved starts."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.clock_shift.check import DAY, clock_shift_problem
from tests.conftest import REPO, child_environment

HOOK = str(REPO / "tests" / "clock_shift")


def shifted_pass(pythonpath: list[str]) -> subprocess.CompletedProcess[str]:
    """A pytest session of the shifted-clock pass that only collects one small module."""
    environment = {
        **child_environment(),
        "AMBIENT_TEST_CLOCK_SHIFT_DAYS": "400",
        "PYTHONPATH": os.pathsep.join(pythonpath),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    command += ["--collect-only", "tests/test_message.py"]
    return subprocess.run(
        command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=110
    )


def test_a_shifted_pass_whose_clock_did_not_move_fails_at_start() -> None:
    session = shifted_pass([str(REPO)])  # the hook is not on PYTHONPATH: nothing moves

    assert session.returncode == 4, session.stdout + session.stderr
    output = " ".join((session.stdout + session.stderr).split())
    assert "AMBIENT_TEST_CLOCK_SHIFT_DAYS=400, but this process's clock is 0.00 days" in output
    assert "collected" not in output  # stopped before collecting a test


def test_a_shifted_pass_whose_clocks_moved_starts() -> None:
    session = shifted_pass([str(REPO), HOOK])

    assert session.returncode == 0, session.stdout + session.stderr


def test_a_child_on_another_clock_is_a_problem_too() -> None:
    assert clock_shift_problem(400, 400 * DAY + 2, 400 * DAY + 3) is None
    problem = clock_shift_problem(400, 400 * DAY + 2, 1.5)
    assert problem is not None and "a child Python process" in problem
    assert "0.00 days ahead" in problem
    unreadable = clock_shift_problem(400, 400 * DAY, None)
    assert unreadable is not None and "could not be read" in unreadable
