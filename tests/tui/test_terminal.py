"""`ambient tui` in a real terminal: tmux at 80x24, keys sent, the pane read back.

Needs tmux (scripts/install-test-deps.sh installs it). The app runs as the `ambient` console
script of this venv, against the test's AMBIENT_HOME, while the test writes like the daemon.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ambient.core.clock import SystemClock
from tests.conftest import FrozenClock
from tests.tui.conftest import DaemonStandIn, email_bytes

pytestmark = pytest.mark.slow


def ambient_command() -> list[str]:
    script = Path(sys.executable).parent / "ambient"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ambient"]


class Terminal:
    """A tmux server of this test's own (its socket in the test's temp dir)."""

    def __init__(self, folder: Path) -> None:
        self.environment = {**os.environ, "TMUX_TMPDIR": str(folder)}

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", "ambient", "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
            env=self.environment,
        )

    def start(self, command: list[str], environment: dict[str, str]) -> None:
        assignments = [f"{name}={value}" for name, value in environment.items()]
        shell = (
            f'{shlex.join(["env", *assignments, *command])}; echo "ambient exited: $?"; sleep 60'
        )
        self.tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", "tui", shell)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "tui").stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "tui", *keys)

    def wait_for(self, condition: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the pane shows:\n{screen}")
            time.sleep(0.1)


@pytest.fixture
def clock() -> FrozenClock:
    """The TUI runs in its own process on the system clock: the daemon stand-in writes at the
    same moment (frozen from now), so nothing here depends on the day the test runs."""
    return FrozenClock(SystemClock().now())


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: run scripts/install-test-deps.sh")
    folder = tmp_path / "tmux"
    folder.mkdir()
    terminal = Terminal(folder)
    try:
        yield terminal
    finally:
        terminal.tmux("kill-server", check=False)  # this test's own tmux server only


def test_ambient_tui_in_a_real_80x24_terminal(
    terminal: Terminal, daemon: DaemonStandIn, ambient_home: Path
) -> None:
    lunch = daemon.draft(raw=email_bytes(subject="Lunch on Friday?", message_id="<l@x>"))
    environment = {
        "AMBIENT_HOME": str(ambient_home),
        "AMBIENT_MODEL": "test",
        "TERM": "xterm-256color",
        "EDITOR": "",
        "VISUAL": "",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    terminal.start([*ambient_command(), "tui"], environment)
    # the status bar fills in from its own read of the database, after the queue may show
    screen = terminal.wait_for(
        lambda s: "Re: Lunch on Friday?" in s and "1 to decide" in s, "the queue and its count"
    )
    assert "a Approve" in screen and "q Quit" in screen  # the footer fits in 80 columns
    assert len(screen.splitlines()) <= 24

    # the daemon drafts another while the app runs: it appears without a restart
    invoice = daemon.draft(raw=email_bytes(subject="Invoice 42", message_id="<i@x>"))
    terminal.wait_for(lambda s: "Re: Invoice 42" in s and "2 to decide" in s, "the new draft")

    terminal.keys("j")  # down to the lunch reply
    terminal.wait_for(lambda s: f"#{lunch.id} reply_email" in s, "the lunch draft's detail")
    terminal.keys("a")
    deadline = time.monotonic() + 10
    while daemon.status_of(lunch.id) != "approved":
        assert time.monotonic() < deadline, "the approval was not stored"
        time.sleep(0.05)
    terminal.wait_for(lambda s: "Re: Lunch on Friday?" not in s, "the approved row to leave")

    terminal.keys("?")
    terminal.wait_for(lambda s: "ambient — keys" in s, "the help screen")
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "ambient — keys" not in s and "Re: Invoice 42" in s, "the queue")

    terminal.keys("q")
    terminal.wait_for(lambda s: "ambient exited: 0" in s, "a clean exit")
    assert daemon.status_of(invoice.id) == "pending"
