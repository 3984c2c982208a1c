"""Model requests and tokens per email, the prompt by part, and the share of it that is stable.

    .venv/bin/python bench/tokens.py [--messages 120] [--json]

Runs the real triage agent (``TriageAgent``, as the daemon runs it) in a temporary
AMBIENT_HOME set up as `ambient init` does (the memory templates, the user "You"), on the
sample mail `ambient init` ships and on the test corpus (``bench/corpus.py``), with few-shot
examples (``[agent] examples = 3``) and without (``examples = 0``). The examples come from the
decisions made before, as ``bench/evals.py`` replays them: the corpus's earlier rows, and for
the samples (which come after it) the whole corpus.

The model is a FunctionModel that answers as a real model would, with what the user decided
about each email (a plain reply: one ``reply_email`` call and the triage in one response; an
ignore or a notify: the triage; a note: one ``write_note`` call and the triage), and reports
usage as a provider counts it: every request's input is the tool definitions, the
instructions and the conversation so far, in that order (Anthropic's cache order: tools,
system, messages), counted with a real BPE tokenizer (SmolLM2's, through llama.cpp, vocabulary
only) when the `local` extra is installed, else at four characters a token; the output is
what it emits. The figures are the ``usage`` Pydantic AI reports for each run.

Prints, per email shape and per dataset: model requests, input and output tokens, the first
request by part (tool schemas, instructions, memory, examples, the email) and the stable
prefix: the start of the first request that is byte-identical for every email of the dataset
(what a provider's prompt cache can serve), as a share of the input tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    ToolCallPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ambient.agent.runner import TriageAgent  # noqa: E402
from ambient.core.config import Settings, load_settings  # noqa: E402
from ambient.evals.dataset import DatasetRow  # noqa: E402
from ambient.evals.dataset_examples import DatasetExamples  # noqa: E402
from ambient.evals.replay import Case, ReplayClock, cases_from  # noqa: E402
from ambient.home import TEMPLATES, initialise  # noqa: E402
from ambient.memory.context import HEADER as MEMORY_HEADER  # noqa: E402
from ambient.models.conversation import estimate_tokens  # noqa: E402
from ambient.models.demo.model import part_text, sent_texts  # noqa: E402
from ambient.runtime import Runtime  # noqa: E402
from bench.evals import SAMPLE_DECISIONS, USER, corpus_rows, dataset_row  # noqa: E402
from bench.results import report  # noqa: E402

PARTS = ("tools", "instructions", "memory", "examples", "email", "other")
ITEM = re.compile(r"A new message arrived \(item (\d+)\)")
EXAMPLES_START = "Past messages like the new one below"
EMAIL_START = "A new message arrived"
PLAIN_REPLY = "plain reply"
EXTRA_SHAPES = ("note", "reply after a memory search")  # the samples again, decided otherwise
DAY = re.compile(r"Today is \w+ \d{4}-\d{2}-\d{2} \(UTC\)\.\n*")


# ---- counting tokens -----------------------------------------------------------------------
@contextmanager
def _quiet_stderr() -> Iterator[None]:
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class Tokenizer:
    """SmolLM2's BPE tokenizer (llama.cpp, vocabulary only) when installed, else 4 chars/token."""

    def __init__(self) -> None:
        self.name = "4 characters a token (llama-cpp-python not installed)"
        self._llama: Any = None
        try:
            import llama_cpp

            from ambient.models.local.runtime import default_model_path

            path = default_model_path()
            with _quiet_stderr():  # llama.cpp warns about the context it does not use
                self._llama = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
            self.name = f"{path.stem}'s BPE tokenizer (llama.cpp, vocabulary only)"
        except Exception as error:  # no local extra, no model package: the estimate
            logging.getLogger(__name__).info("no tokenizer: %s", error)

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self._llama is None:
            return estimate_tokens(text)
        return len(self._llama.tokenize(text.encode(), add_bos=False, special=False))


# ---- the request as a provider receives it -------------------------------------------------
def split_instructions(text: str) -> dict[str, str]:
    """The instructions' text by part: the memory block, and the rest (the fixed rules, who the
    user is, today's date)."""
    start = text.find(MEMORY_HEADER.split("\n", 1)[0] + "\n")
    if start < 0:
        return {"instructions": text, "memory": ""}
    day = DAY.search(text, start)
    end = day.start() if day is not None else len(text)
    return {"instructions": text[:start] + text[end:], "memory": text[start:end]}


def split_user_prompt(text: str) -> dict[str, str]:
    """The user prompt by part: the examples, the email (its intro, any overturn note and the
    framed message) and anything else (today's date, notes the framework adds)."""
    email = text.find(EMAIL_START)
    examples = text.find(EXAMPLES_START)
    if email < 0:
        return {"other": text}
    parts = {"email": text[email:]}
    if 0 <= examples < email:
        parts["examples"] = text[examples:email]
        parts["other"] = text[:examples]
    else:
        parts["other"] = text[:email]
    return parts


@dataclass
class Request:
    """One request as sent: its text in order, and the first request's text by part."""

    text: str
    parts: dict[str, str]


def request_of(messages: Sequence[ModelMessage], info: AgentInfo) -> Request:
    """The request's text (``sent_texts``: the tools, the instructions, the conversation) and,
    for a first request, its parts."""
    tools, told, *conversation = sent_texts(list(messages), info)
    parts = {"tools": tools, **split_instructions(told)}
    if len(messages) == 1 and isinstance(messages[0], ModelRequest):
        for key, value in split_user_prompt("\n".join(conversation)).items():
            parts[key] = parts.get(key, "") + value
    return Request("\n".join([tools, told, *conversation]), parts)


# ---- the model -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """What the user decided about one email: the triage and the actions drafted for it."""

    triage: dict[str, str]
    actions: tuple[tuple[str, dict[str, Any]], ...] = ()
    lookup: str = ""  # search the memory for this first (a read-only tool: one more request)


def decision_of(row: DatasetRow) -> Decision:
    expected = row.expected_output
    decision = expected.triage.decision or "notify"
    triage = {
        "decision": decision,
        "reason": f"the user's rules say {decision}",
        "priority": expected.triage.priority or "normal",
        "summary": row.input.subject or "(no subject)",
    }
    actions = []
    for action in [*expected.actions, *expected.declined]:
        arguments = action.arguments
        if action.kind == "reply_email":  # as a model drafts it: the sender and Re: by default
            arguments = {"body": arguments["body"]}
        actions.append((action.kind, {**arguments, "rationale": "the sender asks the user"}))
    return Decision(triage, tuple(actions))


@dataclass
class Recorder:
    """The model: answers each email with its decision, counting tokens as a provider would."""

    decisions: dict[int, Decision]
    tokenizer: Tokenizer
    first_requests: dict[int, Request] = field(default_factory=dict)

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        request = request_of(messages, info)
        found = ITEM.search(request.text)
        assert found is not None, "no item in the prompt"
        item_id = int(found.group(1))
        self.first_requests.setdefault(item_id, request)
        decision = self.decisions[item_id]
        parts = self.answer(decision, messages, info)
        output = "\n".join(part_text(part) for part in parts)
        usage = RequestUsage(
            input_tokens=self.tokenizer.count(request.text),
            output_tokens=self.tokenizer.count(output),
        )
        return ModelResponse(parts=parts, usage=usage, model_name="decided")

    @staticmethod
    def answer(
        decision: Decision, messages: list[ModelMessage], info: AgentInfo
    ) -> list[ModelResponsePart]:
        triage = ToolCallPart(info.output_tools[0].name, decision.triage)
        if decision.lookup and len(messages) == 1:
            return [ToolCallPart("search", {"query": decision.lookup})]
        resumed = any(isinstance(m, ModelResponse) for m in messages) and not decision.lookup
        calls = [] if resumed else [ToolCallPart(kind, args) for kind, args in decision.actions]
        return [*calls, triage]

    @property
    def model(self) -> FunctionModel:
        return FunctionModel(self, model_name="decided")


# ---- running -------------------------------------------------------------------------------
@dataclass
class Run:
    """One email's run: its requests and tokens, and its first request by part."""

    name: str
    requests: int
    input_tokens: int
    output_tokens: int
    parts: dict[str, int]
    first: str  # the first request's text
    counted: bool = True  # in the dataset's means (not one of the extra sample shapes)
    stable_tokens: int = 0


def mean(runs: Sequence[Run], value: Callable[[Run], float]) -> float:
    return statistics.fmean(value(run) for run in runs) if runs else 0.0


def stable_share(runs: Sequence[Run]) -> float:
    """The stable prefix's tokens (sent with every request) as a share of the input tokens."""
    total = sum(run.input_tokens for run in runs)
    return sum(run.stable_tokens for run in runs) / total if total else 0.0


@dataclass
class Figures:
    dataset: str
    examples: int
    runs: list[Run]

    @property
    def counted(self) -> list[Run]:
        return [run for run in self.runs if run.counted]


def common_prefix(texts: Sequence[str]) -> int:
    """How many characters every text starts with alike."""
    if not texts:
        return 0
    shortest, longest = min(texts), max(texts)
    for index, char in enumerate(shortest):
        if char != longest[index]:
            return index
    return len(shortest)


async def replay(
    name: str,
    cases: Sequence[tuple[str, Case, Decision]],
    history: Sequence[Case],
    settings: Settings,
    runtime: Runtime,
    tokenizer: Tokenizer,
    examples: int,
) -> Figures:
    """The cases one after another, with `examples` few-shot examples from the decided
    `history` and the cases before each."""
    settings.agent.examples = examples
    recorder = Recorder({case.item.item_id: d for _, case, d in cases}, tokenizer)
    clock = ReplayClock(runtime.clock)
    source = DatasetExamples([*history, *(case for _, case, _ in cases)])
    agent = TriageAgent(settings, recorder.model, runtime.memory, clock, examples=source)
    runs = []
    for label, case, _decision in cases:
        clock.at = case.row.received_at
        outcome = await agent.triage(case.item)
        request = recorder.first_requests[case.item.item_id]
        usage = outcome.usage
        by_part = {part: tokenizer.count(request.parts.get(part, "")) for part in PARTS}
        tokens = (usage.input_tokens, usage.output_tokens)
        counted = label not in EXTRA_SHAPES
        runs.append(Run(label, usage.requests, *tokens, by_part, request.text, counted))
    stable = common_prefix([run.first for run in runs]) if len(runs) > 1 else 0
    for run in runs:  # every request of a run starts with it
        run.stable_tokens = tokenizer.count(run.first[:stable]) * run.requests
    return Figures(name, examples, runs)


def sample_cases(after: int) -> list[tuple[str, Case, Decision]]:
    """The samples of `ambient init` (as item ``after + 1`` on: after the corpus, whose
    decisions are their examples), one email per shape: a plain reply (the meeting), an ignore
    (the newsletter), a notify (the invoice), and two decided otherwise: a note (the invoice,
    noted) and a reply after a memory search (a read-only tool: the model sees its result)."""
    folder = TEMPLATES / "samples"
    raws = {name: (folder / name).read_bytes() for name in SAMPLE_DECISIONS}
    rows = [
        dataset_row(name.removesuffix(".eml"), after + position, raws[name], *decided)
        for position, (name, decided) in enumerate(SAMPLE_DECISIONS.items(), 1)
    ]
    meeting, invoice = raws["01-meeting.eml"], raws["03-invoice.eml"]
    rows.append(dataset_row("03-invoice-note", after + 4, invoice, "act", "normal", []))
    rows.append(dataset_row("01-meeting-search", after + 5, meeting, "act", "normal", []))
    decisions = [decision_of(row) for row in rows]
    note = {
        "path": "invoices/acme-hosting.md",
        "content": "# Invoice\nDue in 14 days; see the message.",
        "rationale": "keep a record of the invoice",
    }
    decisions[3] = Decision({**decisions[3].triage, "decision": "act"}, (("write_note", note),))
    decisions[4] = Decision(decisions[0].triage, decisions[0].actions, lookup="Dana")
    labels = [PLAIN_REPLY, "ignore", "notify", *EXTRA_SHAPES]
    return list(zip(labels, cases_from(rows), decisions, strict=True))


def corpus_cases(messages: int) -> list[tuple[str, Case, Decision]]:
    rows = corpus_rows(messages)
    cases = cases_from(rows)
    return [(case.row.id, case, decision_of(case.row)) for case in cases]


# ---- output --------------------------------------------------------------------------------
COLUMNS = (
    ("email", 31), ("examples", 9), ("requests", 9), ("in tok", 8), ("out tok", 8),
    ("tools", 7), ("instructions", 13), ("memory", 7), ("examples", 9), ("email", 6),
    ("stable", 7),
)  # fmt: skip


def _line(cells: Sequence[object]) -> str:
    first, *rest = [str(c) for c in cells]
    widths = [width for _, width in COLUMNS]
    return f"{first:<{widths[0]}}" + "".join(
        f"{c:>{w}}" for c, w in zip(rest, widths[1:], strict=True)
    )


def _cells(name: str, examples: int, runs: Sequence[Run]) -> list[object]:
    return [
        name,
        examples,
        f"{mean(runs, lambda r: r.requests):.2f}".rstrip("0").rstrip("."),
        round(mean(runs, lambda r: r.input_tokens)),
        round(mean(runs, lambda r: r.output_tokens)),
        *(round(statistics.fmean(r.parts[part] for r in runs)) for part in PARTS[:-1]),
        f"{stable_share(runs):.0%}",
    ]


def print_figures(figures: Figures) -> None:
    if figures.dataset == "samples":  # one row per email shape
        for run in figures.runs:
            extra = "" if run.counted else " *"
            print(_line(_cells(run.name + extra, figures.examples, [run])))
    name = f"{figures.dataset}: mean of {len(figures.counted)}"
    print(_line(_cells(name, figures.examples, figures.counted)))


def as_json(figures: Figures) -> dict[str, Any]:
    runs = figures.counted
    return {
        "dataset": figures.dataset,
        "examples": figures.examples,
        "emails": len(runs),
        "requests_per_email": mean(runs, lambda r: r.requests),
        "input_tokens_per_email": mean(runs, lambda r: r.input_tokens),
        "output_tokens_per_email": mean(runs, lambda r: r.output_tokens),
        "stable_share": round(stable_share(runs), 4),
        "runs": [{k: v for k, v in vars(run).items() if k != "first"} for run in figures.runs],
    }


def report_figures(found: Sequence[Figures]) -> None:
    samples = next(f for f in found if f.dataset == "samples")
    plain = next(run for run in samples.runs if run.name == PLAIN_REPLY)
    report("model requests for a plain reply", plain.requests, "", "1", plain.requests == 1)
    for figures in found:
        state = "with" if figures.examples else "without"
        what = f"input tokens per email, {figures.dataset}, {state} examples"
        report(what, round(mean(figures.counted, lambda r: r.input_tokens)), "tokens", "measured")
    for figures in found:
        state = "with" if figures.examples else "without"
        what = f"stable prompt prefix, {figures.dataset}, {state} examples"
        report(what, f"{stable_share(figures.counted):.0%}", "of input", "stable part first")


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=120, help="corpus messages")
    parser.add_argument("--json", action="store_true", help="one JSON document, no tables")
    args = parser.parse_args()
    tokenizer = Tokenizer()
    found: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="ambient-bench-tokens-") as home:
        settings, secrets = load_settings({"AMBIENT_HOME": home, "AMBIENT_MODEL": "test"})
        settings.user_name, settings.user_email = USER  # who the mail is to, who signs
        runtime = Runtime(settings, secrets)
        try:
            initialise(settings, runtime.memory, lambda: runtime.engine, samples=False)
            corpus = corpus_cases(args.messages)
            decided = [case for _, case, _ in corpus]  # the samples' examples come from it
            datasets = {"samples": (sample_cases(len(corpus)), decided), "corpus": (corpus, [])}
            for name, (cases, history) in datasets.items():
                for examples in (0, 3):
                    run = replay(name, cases, history, settings, runtime, tokenizer, examples)
                    found.append(asyncio.run(run))
        finally:
            runtime.close()
    report_figures(found)
    if args.json:
        print(json.dumps([as_json(figures) for figures in found], indent=1))
        return
    print("tokens: model requests and tokens per email (the usage Pydantic AI reports), the")
    print("first request by part, and its stable prefix (byte-identical for every email of the")
    print("dataset) as a share of the input tokens")
    print(_line([name for name, _ in COLUMNS]))
    for figures in found:
        print_figures(figures)
    print(f"\ntokens counted with {tokenizer.name}; goal: 1 request for a plain reply")
    print("*: a sample decided otherwise, not in the samples' mean (a memory search is a")
    print("read-only tool: the model sees its result in a second request, as with MCP reads)")
    print("examples: [agent] examples (0: off); the corpus's emails arrive over two weeks, so its")
    print("stable prefix ends at today's date, the instructions' last line")


if __name__ == "__main__":
    main()
