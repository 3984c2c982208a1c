"""A real D-Bus session bus (Debian's ``dbus-daemon``), started once per test session.

It listens on a private unix socket in a temp dir, with a minimal session config: no service
directories, so a call to a name nobody owns fails with ``ServiceUnknown`` instead of starting
whatever notification daemon the host has installed. The address comes from
``--print-address``, which the daemon writes once it listens. The notification server that
answers on this bus lives in the test process (tests/servers/notifications.py).

When dbus-daemon is missing, the fixture runs ``scripts/install-test-deps.sh`` once; only if
that fails are the D-Bus tests skipped, with the reason shown.
"""

from __future__ import annotations

import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.processes import stop_process

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "install-test-deps.sh"
START_DEADLINE_SECONDS = 15.0

CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass(frozen=True)
class SessionBus:
    address: str  # what $DBUS_SESSION_BUS_ADDRESS would hold
    socket: Path
    process: subprocess.Popen[bytes]

    @property
    def environ(self) -> dict[str, str]:
        return {"DBUS_SESSION_BUS_ADDRESS": self.address}


def _dbus_daemon() -> str:
    found = shutil.which("dbus-daemon")
    if found is None:
        result = subprocess.run(
            ["sh", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=600, check=False
        )
        found = shutil.which("dbus-daemon")
        if found is None:
            reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.skip(f"dbus-daemon not installed and could not be installed: {reason[0]}")
    return found


def _read_address(process: subprocess.Popen[bytes], root: Path) -> str:
    """The line --print-address writes once the bus listens, waited for with a deadline."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    output = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"dbus-daemon printed no address in {START_DEADLINE_SECONDS} s")
            if selector.select(remaining):
                chunk = process.stdout.read1(1024)
                if not chunk:
                    errors = (root / "stderr.log").read_text(errors="replace")
                    raise RuntimeError(f"dbus-daemon exited at start:\n{errors[-2000:]}")
                output += chunk
    return output.decode().strip()


@pytest.fixture(scope="session")
def session_bus() -> Iterator[SessionBus]:
    dbus_daemon = _dbus_daemon()
    root = Path(tempfile.mkdtemp(prefix="ambient-dbus-"))
    socket = root / "bus"
    config = root / "session.conf"
    config.write_text(CONFIG.format(socket=socket))
    with (root / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            [dbus_daemon, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address"],
            stdout=subprocess.PIPE, stderr=stderr, process_group=0,
        )  # fmt: skip
    try:
        address = _read_address(process, root)
        yield SessionBus(address=address, socket=socket, process=process)
    finally:
        stop_process(process)
        assert process.stdout is not None
        process.stdout.close()
        shutil.rmtree(root, ignore_errors=True)
