"""A process that runs the outbox once and is killed by SIGKILL right after the IMAP server moved
(or, without MOVE, copied) the message: between the move and its record
(tests/faults/test_mailbox_kill9.py).

Usage: python -m tests.faults.mailbox_mover move|copy   (AMBIENT_HOME names the setup)
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from imapclient import IMAPClient

from ambient.approvals.executors.mailbox import MailboxExecutor
from ambient.approvals.journal import DeliveryJournal
from ambient.core.config import load_settings
from ambient.runtime import Runtime
from tests.approvals.test_mailbox_actions import MAILBOX_KINDS


def die_after(command: str) -> None:
    """The server carries out `command`; the process dies before it hears of anything else."""
    original = getattr(IMAPClient, command)

    def then_die(client: IMAPClient, *args: Any, **kwargs: Any) -> Any:
        original(client, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(IMAPClient, command, then_die)


def main(argv: list[str]) -> int:
    (how,) = argv
    die_after(how)
    settings, secrets = load_settings()
    runtime = Runtime(settings, secrets)
    if how == "copy":  # a server without MOVE
        journal = DeliveryJournal(runtime.engine, runtime.clock)
        executor = MailboxExecutor(
            runtime.engine, settings, secrets, journal, disabled_capabilities={"MOVE"}
        )
        runtime.executors = {**runtime.executors, **dict.fromkeys(MAILBOX_KINDS, executor)}
    asyncio.run(runtime.outbox.tick())
    return 3  # not reached: the command above kills the process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
