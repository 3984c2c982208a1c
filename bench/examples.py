"""The few-shot lookup (`LedgerExamples.similar`) on a large ledger, on SQLite.

    .venv/bin/python bench/examples.py [--items 10000 200000] [--domain-share 0.25] [--calls 20]

Fills a fresh SQLite ledger through `Ledger.ingest_many` (the way the daemon stores mail), a
share of the items from one domain (25 %: 50k of 200k), some on gmail.com, the rest spread
over many domains; every item settled (triaged notify, or a reply the human approved and that
was sent). Then times `similar(item, 3)` for a new item of several shapes: a known sender of
the big domain in a known thread, a stranger from the big domain, a stranger on gmail.com with
a known subject, and a message like nothing stored. Prints the median per call (wall and CPU).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ambient.agent.deps import AgentItem  # noqa: E402
from ambient.agent.examples import LedgerExamples  # noqa: E402
from ambient.core.config import WorkerSettings  # noqa: E402
from ambient.core.db import open_database  # noqa: E402
from ambient.core.items import InboundItem  # noqa: E402
from ambient.core.ledger import Ledger  # noqa: E402

BIG_DOMAIN = "big.example"
TOPICS = 2000
BATCH = 2000
NOW = datetime(2026, 11, 24, 9, tzinfo=UTC)


class StoppedClock:
    def now(self) -> datetime:
        return NOW


def mail(sender: str, subject: str, message_id: str, references: str = "") -> bytes:
    lines = [
        f"From: {sender}",
        "To: robin@home.example",
        f"Subject: {subject}",
        f"Message-ID: {message_id}",
        "Date: Tue, 24 Nov 2026 09:00:00 +0000",
    ]
    if references:
        lines.append(f"References: {references}")
    return ("\r\n".join(lines) + "\r\n\r\nHello, a short message.\r\n").encode()


def sender_of(rng: random.Random, number: int, domain_share: float) -> str:
    roll = rng.random()
    if roll < domain_share:
        return f"Person {number % 500} <p{rng.randrange(500)}@{BIG_DOMAIN}>"
    if roll < domain_share + 0.1:
        return f"u{rng.randrange(2000)}@gmail.com"
    return f"x{rng.randrange(3)}@org{rng.randrange(5000)}.example"


def fill(engine: Engine, items: int, domain_share: float) -> None:
    """`items` settled items through the ledger, every seventh with a sent, approved reply."""
    rng = random.Random(items)
    ledger = Ledger(engine, StoppedClock(), WorkerSettings())
    for start in range(0, items, BATCH):
        batch = []
        for number in range(start, min(start + BATCH, items)):
            prefix = rng.choice(["", "", "Re: ", "Fwd: "])
            subject = f"{prefix}Topic {rng.randrange(TOPICS)}"
            threads = max(items // 10, 1)
            references = f"<t{rng.randrange(threads)}@x>" if rng.random() < 0.3 else ""
            raw = mail(sender_of(rng, number, domain_share), subject, f"<m{number}@x>", references)
            batch.append(InboundItem("inbox", f"k{number}", raw))
        ledger.ingest_many(batch)
    triage = json.dumps({"decision": "notify", "reason": "r", "priority": "normal", "summary": ""})
    args = json.dumps({"to": ["someone@example.com"], "subject": "Re: x", "body": "Fine."})
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE item SET state = 'done', triage_json = :triage"), {"triage": triage}
        )
        connection.execute(
            text(
                "INSERT INTO approval (item_id, kind, tool_call_id, args_json, rationale, "
                "trace_id, status, item_version, thread_addresses_json, review_round, "
                "shown_hash, policy_warnings_json, provenance_json, created_at, queued_at, "
                "decided_at, decision, warnings_acknowledged, reflection_status, attempts) "
                "SELECT id, 'reply_email', '', :args, '', '', 'executed', '', '[]', 0, '', '[]', "
                "'{}', :now, :now, :now, 'approved', 0, 'none', 0 FROM item WHERE id % 7 = 0"
            ),
            {"args": args, "now": NOW},
        )


def cases(items: int) -> dict[str, AgentItem]:
    new_id = items + 1
    shapes = {
        "known sender, known thread": (f"p7@{BIG_DOMAIN}", "Re: Topic 12", "<t3@x>"),
        "stranger in the big domain": (f"new@{BIG_DOMAIN}", "Something new", ""),
        "stranger on gmail.com": ("stranger@gmail.com", "Re: Topic 12", ""),
        "like nothing stored": ("nobody@nowhere.example", "Unheard of", ""),
    }
    return {
        name: AgentItem.from_raw(new_id, "0" * 32, mail(sender, subject, "<new@x>", references))
        for name, (sender, subject, references) in shapes.items()
    }


def median_ms(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """The median wall and CPU time of `calls` calls, in ms."""
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(calls):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--domain-share", type=float, default=0.25)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    for items in args.items:
        with tempfile.TemporaryDirectory(prefix="ambient-bench-examples-") as folder:
            engine = open_database(f"sqlite:///{Path(folder) / 'ledger.db'}")
            started = time.perf_counter()
            fill(engine, items, args.domain_share)
            filled = time.perf_counter() - started
            print(
                f"\n{items} items ({int(items * args.domain_share)} from {BIG_DOMAIN}), "
                f"filled in {filled:.0f} s; similar(item, 3), median of {args.calls}:"
            )
            source = LedgerExamples(engine)
            for name, item in cases(items).items():
                found = source.similar(item, 3)
                wall, cpu = median_ms(partial(source.similar, item, 3), args.calls)
                matches = ", ".join(example.match for example in found) or "none"
                print(f"  {name:<28} {wall:8.2f} ms wall {cpu:8.2f} ms CPU   ({matches})")
            engine.dispose()


if __name__ == "__main__":
    main()
