"""Stopping a server process a fixture started: SIGTERM, then SIGKILL if it does not go."""

from __future__ import annotations

import signal
import subprocess

GRACE_SECONDS = 10


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=GRACE_SECONDS)
