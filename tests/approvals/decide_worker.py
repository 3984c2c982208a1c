"""A separate process that races to decide rows (tests/approvals/test_concurrency.py).

Usage: python -m tests.approvals.decide_worker DATABASE_URL DECISION GO_FILE ID:HASH ...
Prints "ready", waits for GO_FILE, decides every row as fast as it can, and prints one line per
row: "<id> won" or "<id> refused <reason>".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.core.clock import SystemClock
from ambient.core.config import load_settings
from ambient.core.db import make_engine
from ambient.core.errors import DecisionError


def main(argv: list[str]) -> int:
    url, decision, go_file, *pairs = argv
    settings, _secrets = load_settings()
    engine = make_engine(url)
    queue = ApprovalQueue(engine, SystemClock(), settings, PolicyGate.from_settings(settings))
    actor = f"{decision}-process"
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not Path(go_file).exists():
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.001)
    for pair in pairs:
        approval_id, shown_hash = pair.split(":")
        try:
            if decision == "approve":
                queue.approve(int(approval_id), shown_hash=shown_hash, actor=actor)
            else:
                queue.reject(int(approval_id), shown_hash=shown_hash, reason="race", actor=actor)
        except DecisionError as error:
            print(f"{approval_id} refused {error}", flush=True)
        else:
            print(f"{approval_id} won", flush=True)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
