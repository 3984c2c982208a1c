"""Pipeline benchmark: N messages through Maildir -> ledger -> worker -> agent (FunctionModel).

    .venv/bin/python bench/pipeline.py [--messages 2000] [--concurrency 1 4 16] [--model-ms 0 200]
                                       [--processor ambient|bare] [--profile]

Prints, per (model latency, concurrency): items/s for a backlog of N messages, the CPU the whole
process spent per item on that backlog, and the p50/p95 of arrival-to-processed for messages
trickling in while the daemon runs; then, per item of the backlog, the SQL statements, the
transactions committed and how many of those the event loop's own thread committed (it stops
for each: none is the goal). The counts do not move with the machine's load; the times do, so
compare times measured in one run. Everything runs in a temporary AMBIENT_HOME on SQLite (or
--database-url).

The processor is, by default, ambient's own (``--processor ambient``): the runtime's traced
agent processor with its pre-rules, few-shot examples from the ledger, memory, trace log and
approvals queue, on a FunctionModel that triages most messages and drafts a reply to every
``--drafts-every``-th (queued through the policy gate). ``--processor bare`` runs a plain
Pydantic AI agent instead (what the first figures of issue 16 measured). The "no agent" row is
ambient's own overhead: the worker finishes each item without any Pydantic AI run.

``--profile`` profiles the instant-model run at the highest concurrency (cProfile on the event
loop and on every worker thread, timed by each thread's CPU clock) and prints the top entries by
cumulative CPU per item.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import Engine, event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ambient.core.config import load_settings  # noqa: E402
from ambient.core.items import ItemState  # noqa: E402
from ambient.core.ledger import ClaimedItem  # noqa: E402
from ambient.core.message import parse_message  # noqa: E402
from ambient.core.processing import (  # noqa: E402
    ItemOutcome,
    ItemProcessor,
    concurrency_limit,
    warm_up,
)
from ambient.runtime import Runtime  # noqa: E402
from ambient.sources.maildir import deliver  # noqa: E402
from bench.results import report  # noqa: E402

SPEED_UP_GOAL = 0.9  # of the concurrency: 16 concurrent runs of a 200 ms model ≥ 14.4× one


class Triage(BaseModel):
    decision: str
    summary: str


def bare_model(delay_seconds: float) -> FunctionModel:
    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if delay_seconds:
            await asyncio.sleep(delay_seconds)
        args = {"decision": "notify", "summary": "bench"}
        return ModelResponse(parts=[ToolCallPart(tool_name=info.output_tools[0].name, args=args)])

    return FunctionModel(respond)


def ambient_model(delay_seconds: float, drafts_every: int) -> FunctionModel:
    """Triages each message as notify, except every `drafts_every`-th: a drafted reply."""

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if delay_seconds:
            await asyncio.sleep(delay_seconds)
        prompt = next(
            (
                part.content
                for message in messages
                for part in getattr(message, "parts", [])
                if isinstance(part, UserPromptPart) and isinstance(part.content, str)
            ),
            "",
        )
        number = prompt.rsplit("Message body number ", 1)[-1].split(".", 1)[0]
        if drafts_every and number.isdigit() and int(number) % drafts_every == 0:
            args = {"body": "Yes, Tuesday works.", "rationale": "they asked to meet"}
            return ModelResponse(parts=[ToolCallPart(tool_name="reply_email", args=args)])
        args = {"decision": "notify", "reason": "a question", "summary": "bench"}
        return ModelResponse(parts=[ToolCallPart(tool_name=info.output_tools[0].name, args=args)])

    return FunctionModel(respond)


class BareProcessor:
    """A plain Pydantic AI agent on a FunctionModel; `agent=False` measures ambient alone."""

    def __init__(self, delay_seconds: float, agent: bool = True) -> None:
        self.agent = Agent(bare_model(delay_seconds), output_type=Triage) if agent else None

    async def process(self, item: ClaimedItem) -> ItemOutcome:
        if self.agent is None:
            return ItemOutcome(ItemState.DONE, {"decision": "notify", "summary": "bench"})
        message = parse_message(item.raw)
        result = await self.agent.run(f"<untrusted_email>{message.text}</untrusted_email>")
        return ItemOutcome(ItemState.DONE, result.output.model_dump())


class Finishing:
    """The processor under test, noting when each message (by Message-ID) was processed."""

    def __init__(self, processor: ItemProcessor) -> None:
        self.processor = processor
        self.finished: dict[str, float] = {}

    @property
    def max_concurrency(self) -> int | None:
        return concurrency_limit(self.processor)

    async def warm_up(self) -> None:
        await warm_up(self.processor)

    async def process(self, item: ClaimedItem) -> ItemOutcome:
        outcome = await self.processor.process(item)
        self.finished[(item.message_id or "").strip("<>")] = time.perf_counter()
        return outcome


def message(index: int) -> bytes:
    return (
        f"From: Sender {index} <s{index}@example.com>\r\nTo: me@example.com\r\n"
        f"Subject: bench-{index}\r\nMessage-ID: <{message_id(index)}>\r\n\r\n"
        f"Message body number {index}. Can we meet next week?\r\n"
    ).encode()


def message_id(index: int) -> str:
    return f"bench-{index}@example.com"


async def wait_until(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark did not finish in time")
        await asyncio.sleep(0.005)


@dataclass(frozen=True)
class Run:
    rate: float  # items/s on the backlog
    cpu_ms: float  # process CPU per item on the backlog (every thread)
    p50: float  # arrival to processed under a trickle, seconds
    p95: float
    statements: float = 0.0  # SQL statements per item on the backlog
    commits: float = 0.0  # transactions committed per item
    loop_commits: float = 0.0  # of those, committed on the event loop's thread (it waited)


class Database:
    """Counts SQL statements and commits, and the commits made on the event loop's thread:
    figures that do not move with the machine's load, unlike the times."""

    def __init__(self, engine: Engine) -> None:
        self.counts: Counter[str] = Counter()
        loop_thread = threading.get_ident()

        def statement(*_args: object) -> None:
            self.counts["statements"] += 1

        def commit(_connection: object) -> None:
            self.counts["commits"] += 1
            if threading.get_ident() == loop_thread:
                self.counts["loop_commits"] += 1

        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", commit)

    def per_item(self, since: Counter[str], items: int) -> dict[str, float]:
        now = self.counts
        return {
            name: (now[name] - since[name]) / items
            for name in ("statements", "commits", "loop_commits")
        }


EVENT_LOOP_GLUE = (
    "/asyncio/",
    "/concurrent/",
    "threading.py",
    "contextlib.py",
    "/anyio/",
    "/bench/",
)


class Profiler:
    """cProfile on the event loop's thread and on each thread the loop hands work to, each
    timed by its own thread's CPU clock; merged into one set of statistics at the end."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self.lock = threading.Lock()

    def start_thread(self) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self.lock:
            self.profiles.append(profile)
        profile.enable()

    def executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(thread_name_prefix="bench", initializer=self.start_thread)

    @contextmanager
    def main_thread(self) -> Iterator[None]:
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        try:
            yield
        finally:
            profile.disable()
            with self.lock:
                self.profiles.append(profile)

    def print_top(self, items: int, top: int = 30) -> None:
        with self.lock:
            profiles = list(self.profiles)
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        rows = stats.stats  # type: ignore[attr-defined]
        total = sum(tt for _cc, _nc, tt, _ct, _callers in rows.values())
        print(f"\nprofile: CPU per item {total * 1000 / items:.2f} ms (all threads, profiled)")
        print(f"{'cum ms/item':>11} {'own ms/item':>11} {'calls/item':>10}  function")
        ranked = sorted(rows.items(), key=lambda row: row[1][3], reverse=True)
        shown = 0
        for (path, line, name), (_cc, calls, own, cumulative, _callers) in ranked:
            if name.startswith("<") or any(glue in path for glue in EVENT_LOOP_GLUE):
                continue  # the event loop's and threads' own frames: in every entry below
            where = f"{Path(path).name}:{line}({name})" if line else name
            for marker in ("/site-packages/", "/ambient/", "/bench/"):
                if marker in path:
                    where = path.split(marker, 1)[1] + f":{line}({name})"
            print(
                f"{cumulative * 1000 / items:>11.2f} {own * 1000 / items:>11.3f} "
                f"{calls / items:>10.1f}  {where}"
            )
            shown += 1
            if shown >= top:
                break


async def one_run(
    messages: int,
    concurrency: int,
    delay: float,
    database_url: str | None,
    *,
    processor: str = "ambient",
    drafts_every: int = 4,
    profiler: Profiler | None = None,
    trickle: int = 60,
) -> Run:
    """`processor`: "ambient" (the runtime's own), "bare" (a plain Pydantic AI agent) or
    "none" (no agent run at all). `trickle`: messages for the latency figures, 20 a second."""
    if profiler is not None:
        asyncio.get_running_loop().set_default_executor(profiler.executor())
    with tempfile.TemporaryDirectory() as home:
        environ = {"AMBIENT_HOME": home, "AMBIENT_MODEL": "test"}
        if database_url:
            environ["AMBIENT_DATABASE_URL"] = database_url
        settings, secrets = load_settings(environ)
        settings.worker.concurrency = concurrency
        settings.worker.poll_jitter_seconds = 0
        settings.worker.interval_seconds = 0.05
        settings.sources[0].interval_seconds = 0.02
        runtime = Runtime(settings, secrets)
        if processor == "ambient":
            runtime.memory.seed()  # the templates, in git, as `ambient init` leaves them
            runtime.model = ambient_model(delay, drafts_every)
            tested = Finishing(runtime.processor)
        else:
            tested = Finishing(BareProcessor(delay, agent=processor == "bare"))
        runtime.processor = tested
        daemon = runtime.daemon

        # backlog throughput
        for index in range(messages):
            deliver(settings.maildir_path, message(index))
        database = Database(runtime.engine)
        profiling = profiler.main_thread() if profiler is not None else _nothing()
        counted = Counter(database.counts)
        cpu = time.process_time()
        started = time.perf_counter()
        stop = asyncio.Event()
        with profiling:
            running = asyncio.create_task(daemon.run(stop))
            await wait_until(lambda: len(tested.finished) >= messages, timeout=600)
        throughput = messages / (time.perf_counter() - started)
        cpu_ms = (time.process_time() - cpu) * 1000 / messages
        per_item = database.per_item(counted, messages)

        # latency under a trickle: 20 messages/s for 3 s (or fewer when the model is slow)
        arrivals: dict[str, float] = {}
        for index in range(messages, messages + trickle):
            arrivals[message_id(index)] = time.perf_counter()
            deliver(settings.maildir_path, message(index))
            await asyncio.sleep(0.05)
        await wait_until(lambda: all(k in tested.finished for k in arrivals), timeout=600)
        latencies = sorted(tested.finished[k] - arrivals[k] for k in arrivals) or [0.0]
        stop.set()
        await running
        await runtime.aclose()
        p50 = statistics.median(latencies)
        p95 = latencies[max(int(len(latencies) * 0.95) - 1, 0)]
        return Run(throughput, cpu_ms, p50, p95, **per_item)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def database_figures(run: Run) -> str:
    return f"{run.statements:>8.1f} {run.commits:>7.2f} {run.loop_commits:>7.2f}"


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the figures, not the daemon's notices
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--model-ms", type=float, nargs="+", default=[0, 200])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--processor", choices=["ambient", "bare"], default="ambient")
    parser.add_argument("--drafts-every", type=int, default=4, help="0: the model never drafts")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the instant-model run at the top concurrency",
    )
    args = parser.parse_args()
    top = max(args.concurrency)
    kind = (
        "ambient's agent processor" if args.processor == "ambient" else "a bare Pydantic AI agent"
    )
    print(f"pipeline: Maildir -> ledger -> worker -> {kind}; {args.messages} messages per run")
    print(
        f"{'model':>8} {'conc':>5} {'items/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'vs c=1':>7}"
        f" {'CPU ms/item':>11} {'SQL/item':>8} {'tx/item':>7} {'on loop':>7}"
    )
    bare = asyncio.run(one_run(args.messages, top, 0, args.database_url, processor="none"))
    print(
        f"{'no agent':>8} {top:>5} {bare.rate:>9.1f} {bare.p50 * 1000:>8.1f} "
        f"{bare.p95 * 1000:>8.1f} {'':>7} {bare.cpu_ms:>11.2f} {database_figures(bare)}"
        "   (ambient's own overhead: no Pydantic AI run)"
    )
    report(f"pipeline: no agent, c={top}", round(bare.rate, 1), "items/s")
    for delay_ms in args.model_ms:
        rates: dict[int, float] = {}
        count = args.messages if delay_ms == 0 else min(args.messages, 200)
        for concurrency in args.concurrency:
            run = asyncio.run(
                one_run(
                    count,
                    concurrency,
                    delay_ms / 1000,
                    args.database_url,
                    processor=args.processor,
                    drafts_every=args.drafts_every,
                )
            )
            rates[concurrency] = run.rate
            baseline = rates[args.concurrency[0]]
            print(
                f"{delay_ms:>6.0f}ms {concurrency:>5} {run.rate:>9.1f} {run.p50 * 1000:>8.1f} "
                f"{run.p95 * 1000:>8.1f} {run.rate / baseline:>6.2f}x {run.cpu_ms:>11.2f}"
                f" {database_figures(run)}"
            )
            if delay_ms == 0 and concurrency == top:
                report(f"pipeline: instant model, c={top}", round(run.rate, 1), "items/s")
                report(
                    f"pipeline: instant model, CPU per item, c={top}", round(run.cpu_ms, 1), "ms"
                )
                waits = round(run.loop_commits, 2)
                report(
                    f"pipeline: commits on the event loop per item, c={top}",
                    waits,
                    "",
                    "0",
                    waits == 0,
                )
        if delay_ms and 1 in rates and top > 1:
            speed_up = rates[top] / rates[1]
            goal = SPEED_UP_GOAL * top
            print(f"{'':>8} {delay_ms:.0f} ms model: c={top} vs c=1 {speed_up:.1f}x", end="")
            print(f" (goal >= {goal:.1f}x)")
            report(
                f"pipeline: {delay_ms:.0f} ms model, c={top} vs c=1",
                round(speed_up, 1),
                "x",
                f">= {goal:.1f}x",
                speed_up >= goal,
            )
    if args.profile:
        profiler = Profiler()
        asyncio.run(
            one_run(
                args.messages,
                top,
                0,
                args.database_url,
                processor=args.processor,
                drafts_every=args.drafts_every,
                profiler=profiler,
                trickle=0,
            )
        )
        print(f"\nprofile of the instant-model run at c={top} (its backlog of {args.messages})")
        profiler.print_top(args.messages)


if __name__ == "__main__":
    main()
