"""Pipeline benchmark: N messages through Maildir -> ledger -> worker -> agent (FunctionModel).

    .venv/bin/python bench/pipeline.py [--messages 2000] [--concurrency 1 4 16] [--model-ms 0 200]

Prints, per (model latency, concurrency): items/s for a backlog of N messages, and the p50/p95
of arrival-to-processed for messages trickling in while the daemon runs. Everything runs in a
temporary AMBIENT_HOME on SQLite (or --database-url).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ambient.core.config import load_settings  # noqa: E402
from ambient.core.items import ItemState  # noqa: E402
from ambient.core.ledger import ClaimedItem  # noqa: E402
from ambient.core.message import parse_message  # noqa: E402
from ambient.core.processing import ItemOutcome  # noqa: E402
from ambient.runtime import Runtime  # noqa: E402
from ambient.sources.maildir import deliver  # noqa: E402


class Triage(BaseModel):
    decision: str
    summary: str


def model(delay_seconds: float) -> FunctionModel:
    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if delay_seconds:
            await asyncio.sleep(delay_seconds)
        args = {"decision": "notify", "summary": "bench"}
        return ModelResponse(parts=[ToolCallPart(tool_name=info.output_tools[0].name, args=args)])

    return FunctionModel(respond)


class BenchProcessor:
    """A real Pydantic AI agent on a FunctionModel; `agent=False` measures ambient alone."""

    def __init__(self, delay_seconds: float, agent: bool = True) -> None:
        self.agent = Agent(model(delay_seconds), output_type=Triage) if agent else None
        self.finished: dict[str, float] = {}

    async def process(self, item: ClaimedItem) -> ItemOutcome:
        message = parse_message(item.raw)
        if self.agent is None:
            triage = {"decision": "notify", "summary": "bench"}
        else:
            result = await self.agent.run(f"<untrusted_email>{message.text}</untrusted_email>")
            triage = result.output.model_dump()
        self.finished[message.subject] = time.perf_counter()
        return ItemOutcome(ItemState.DONE, triage)


def message(index: int) -> bytes:
    return (
        f"From: Sender {index} <s{index}@example.com>\r\nTo: me@example.com\r\n"
        f"Subject: bench-{index}\r\nMessage-ID: <bench-{index}@example.com>\r\n\r\n"
        f"Message body number {index}. Can we meet next week?\r\n"
    ).encode()


async def wait_until(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark did not finish in time")
        await asyncio.sleep(0.005)


async def one_run(
    messages: int, concurrency: int, delay: float, database_url: str | None, agent: bool = True
) -> tuple[float, float, float]:
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
        processor = BenchProcessor(delay, agent)
        runtime.processor = processor
        daemon = runtime.daemon

        # backlog throughput
        for index in range(messages):
            deliver(settings.maildir_path, message(index))
        started = time.perf_counter()
        stop = asyncio.Event()
        running = asyncio.create_task(daemon.run(stop))
        await wait_until(lambda: len(processor.finished) >= messages, timeout=600)
        throughput = messages / (time.perf_counter() - started)

        # latency under a trickle: 20 messages/s for 3 s (or fewer when the model is slow)
        trickle = 60
        arrivals: dict[str, float] = {}
        for index in range(messages, messages + trickle):
            arrivals[f"bench-{index}"] = time.perf_counter()
            deliver(settings.maildir_path, message(index))
            await asyncio.sleep(0.05)
        await wait_until(lambda: all(k in processor.finished for k in arrivals), timeout=600)
        latencies = sorted(processor.finished[k] - arrivals[k] for k in arrivals)
        stop.set()
        await running
        await runtime.aclose()
        p50 = statistics.median(latencies)
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        return throughput, p50, p95


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the figures, not the daemon's notices
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--model-ms", type=float, nargs="+", default=[0, 200])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    print(f"pipeline: Maildir -> ledger -> worker -> agent; {args.messages} messages per run")
    print(f"{'model':>8} {'conc':>5} {'items/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'vs c=1':>7}")
    rate, p50, p95 = asyncio.run(one_run(args.messages, 16, 0, args.database_url, agent=False))
    print(
        f"{'no agent':>8} {16:>5} {rate:>9.1f} {p50 * 1000:>8.1f} {p95 * 1000:>8.1f}"
        "   (ambient's own overhead: no Pydantic AI run)"
    )
    for delay_ms in args.model_ms:
        baseline = None
        count = args.messages if delay_ms == 0 else min(args.messages, 200)
        for concurrency in args.concurrency:
            rate, p50, p95 = asyncio.run(
                one_run(count, concurrency, delay_ms / 1000, args.database_url)
            )
            baseline = baseline or rate
            print(
                f"{delay_ms:>6.0f}ms {concurrency:>5} {rate:>9.1f} {p50 * 1000:>8.1f} "
                f"{p95 * 1000:>8.1f} {rate / baseline:>6.2f}x"
            )


if __name__ == "__main__":
    main()
