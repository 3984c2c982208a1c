"""The command hook: the user's program runs once per alert, the alert as JSON on its stdin.

It also finds the alert in ``AMBIENT_ALERT_TITLE``, ``AMBIENT_ALERT_BODY`` and
``AMBIENT_ALERT_COUNT`` (for a one-line shell hook such as ``notify-send "$AMBIENT_ALERT_TITLE"``).
It must finish within its timeout (then it is killed); a non-zero exit is a failure reported
with the end of what it wrote to stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence

from ambient.daemon.alerts.channel import Alert, AlertChannelError

STDERR_TAIL_CHARS = 300


def alert_environment(alert: Alert) -> dict[str, str]:
    return {
        "AMBIENT_ALERT_TITLE": alert.title,
        "AMBIENT_ALERT_BODY": alert.body,
        "AMBIENT_ALERT_COUNT": str(alert.count),
    }


class CommandChannel:
    name = "command"

    def __init__(self, argv: Sequence[str], timeout_seconds: float = 10.0) -> None:
        self.argv = list(argv)
        self.timeout_seconds = timeout_seconds

    async def send(self, alert: Alert) -> None:
        program = self.argv[0]
        payload = json.dumps(alert.as_json(), ensure_ascii=False).encode()
        try:  # the hook inherits the daemon's environment, as any child does
            process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **alert_environment(alert)},
            )
        except OSError as error:
            raise AlertChannelError(
                f"command: cannot run {program}: {error.strerror or error}"
            ) from None
        try:
            async with asyncio.timeout(self.timeout_seconds):
                _, stderr = await process.communicate(payload)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AlertChannelError(
                f"command: {program} did not finish within {self.timeout_seconds:g} s (killed)"
            ) from None
        if process.returncode != 0:
            tail = stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL_CHARS:]
            said = f": {tail}" if tail else " (nothing on stderr)"
            raise AlertChannelError(f"command: {program} exited with {process.returncode}{said}")
