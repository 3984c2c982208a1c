"""Pre-rule figures: how much of the sample mail and the test corpus is decided without a model.

    .venv/bin/python bench/prerules.py [--messages 120] [--config ambient.toml] [--json]

Runs the pre-rules (``ambient/agent/prerules.py``: the built-ins as ``[prerules]`` leaves them
by default, and the ``[[rules]]`` of ``--config`` if given) on the three bundled samples
(``ambient/templates/samples``, labelled as in ``bench/evals.py``) and on the labelled corpus
of ``bench/corpus.py``. For each: the share of items a rule decides (no model call), the model
calls saved, and the model requests and input tokens those items would have cost with the demo
model (``AMBIENT_MODEL=test``, which counts what it was sent, four characters a token; a hosted
model's prompt is the same text, so its tokens are close). Then per rule: the items it decided,
how many agree with the label (the user's triage: precision), and which corpus categories it
fired on. Nothing is queued, sent or traced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ambient.agent.deps import AgentItem  # noqa: E402
from ambient.agent.prerules import BUILT_INS, FiredRule, PreRules  # noqa: E402
from ambient.agent.runner import TriageAgent  # noqa: E402
from ambient.core.config import load_settings  # noqa: E402
from ambient.home import TEMPLATES, initialise  # noqa: E402
from ambient.runtime import Runtime  # noqa: E402
from bench.corpus import corpus  # noqa: E402
from bench.evals import SAMPLE_DECISIONS, USER  # noqa: E402


@dataclass(frozen=True)
class Message:
    name: str
    category: str
    raw: bytes
    label: str  # the user's triage: ignore / notify / act


@dataclass
class RuleFigures:
    decided: int = 0
    agree: int = 0
    categories: Counter[str] = field(default_factory=Counter)

    @property
    def precision(self) -> float | None:
        return self.agree / self.decided if self.decided else None


@dataclass
class Figures:
    """One dataset's figures."""

    name: str
    about: str
    items: int = 0
    decided: int = 0  # by a rule, without a model call
    sent_to_model: int = 0  # an "act" rule that only sends the item to the model
    agree: int = 0
    requests_saved: int = 0  # the demo model's requests for the decided items
    tokens_saved: int = 0  # their input tokens
    seconds: float = 0.0  # deciding (the rules), all items
    rules: dict[str, RuleFigures] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "about": self.about,
            "items": self.items,
            "decided_without_model": self.decided,
            "share": round(self.decided / self.items, 4) if self.items else None,
            "model_calls_saved": self.decided,
            "agreement": round(self.agree / self.decided, 4) if self.decided else None,
            "demo_requests_saved": self.requests_saved,
            "demo_input_tokens_saved": self.tokens_saved,
            "rules_ms_per_item": round(1000 * self.seconds / self.items, 4) if self.items else None,
            "rules": {
                name: {
                    "decided": rule.decided,
                    "agree": rule.agree,
                    "precision": rule.precision,
                    "categories": dict(rule.categories),
                }
                for name, rule in self.rules.items()
            },
        }


def samples() -> list[Message]:
    """The bundled samples; a sample's category is its name (`02-newsletter.eml`: newsletter)."""
    folder = TEMPLATES / "samples"
    found = []
    for name, (label, _priority, _actions) in SAMPLE_DECISIONS.items():
        stem = name.removesuffix(".eml")
        found.append(Message(stem, stem.partition("-")[2], (folder / name).read_bytes(), label))
    return found


def corpus_messages(count: int) -> list[Message]:
    return [Message(e.name, e.category, e.raw, e.triage) for e in corpus(count)]


async def measure(
    figures: Figures, messages: list[Message], rules: PreRules, agent: TriageAgent
) -> None:
    for position, message in enumerate(messages, 1):
        item = AgentItem.from_raw(position, f"bench-{position}", message.raw)
        started = time.perf_counter()
        fired: FiredRule | None = rules.first_match(item, message.raw)
        figures.seconds += time.perf_counter() - started
        figures.items += 1
        if fired is None:
            continue
        if not fired.decides:
            figures.sent_to_model += 1
            continue
        figures.decided += 1
        rule = figures.rules.setdefault(fired.name, RuleFigures())
        rule.decided += 1
        rule.categories[message.category] += 1
        if fired.decision == message.label:
            rule.agree += 1
            figures.agree += 1
        outcome = await agent.triage(item, examples=[])  # what deciding it with the model costs
        figures.requests_saved += outcome.usage.requests
        figures.tokens_saved += outcome.usage.input_tokens


# ---- output -----------------------------------------------------------------------------------
COLUMNS = (
    ("dataset", 8), ("items", 5), ("no model", 8), ("share", 6), ("agree", 6),
    ("calls saved", 11), ("requests", 8), ("in tok", 7), ("to model", 8), ("rules ms", 8),
)  # fmt: skip
RULE_COLUMNS = (("rule", 12), ("decided", 7), ("agree", 5), ("precision", 9), ("fired on", 0))


def _line(cells: list[str], columns: tuple[tuple[str, int], ...]) -> str:
    first = f"{cells[0]:<{columns[0][1]}}"
    rest = [f"{c:>{w}}" if w else c for c, (_, w) in zip(cells[1:], columns[1:], strict=True)]
    return " ".join([first, *rest])


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def print_figures(chosen: list[Figures]) -> None:
    print(_line([name for name, _ in COLUMNS], COLUMNS))
    for f in chosen:
        cells = [
            f.name,
            str(f.items),
            str(f.decided),
            _share(f.decided, f.items),
            _share(f.agree, f.decided),
            str(f.decided),
            str(f.requests_saved),
            str(f.tokens_saved),
            str(f.sent_to_model),
            f"{1000 * f.seconds / f.items:.3f}" if f.items else "–",
        ]
        print(_line(cells, COLUMNS))
    for f in chosen:
        print(f"\n{f.name}: {f.about}, per rule")
        print(_line([name for name, _ in RULE_COLUMNS], RULE_COLUMNS))
        for name, rule in f.rules.items():
            fired_on = ", ".join(f"{k} {v}" for k, v in rule.categories.most_common())
            precision = _share(rule.agree, rule.decided)
            cells = [name, str(rule.decided), str(rule.agree), precision, fired_on]
            print(_line(cells, RULE_COLUMNS))


NOTES = (
    "notes: no model = items a pre-rule decided (no model call: calls saved = the same number); "
    "agree = share of those whose decision is the user's label; requests and in tok = what the "
    "demo model (AMBIENT_MODEL=test) took for them, tokens estimated at four characters; "
    "to model = an act rule without an action (the model still decides); rules ms = the rules' "
    "own time per item (all items); precision per rule = its decisions that match the label"
)


# ---- main -------------------------------------------------------------------------------------
async def run(args: argparse.Namespace, home: Path) -> list[Figures]:
    if args.config is not None:
        shutil.copyfile(args.config, home / "ambient.toml")
    settings, secrets = load_settings({"AMBIENT_HOME": str(home), "AMBIENT_MODEL": "test"})
    settings.user_name, settings.user_email = USER
    settings.agent.examples = 0
    runtime = Runtime(settings, secrets)
    try:
        initialise(settings, runtime.memory, lambda: runtime.engine, samples=False)
        rules = PreRules.from_settings(settings)
        agent = runtime.untraced_agent
        chosen = [
            Figures("samples", "the bundled sample mail (3 messages)"),
            Figures("corpus", f"the test corpus (bench/corpus.py, {args.messages} messages)"),
        ]
        for figures, messages in zip(
            chosen, [samples(), corpus_messages(args.messages)], strict=True
        ):
            await measure(figures, messages, rules, agent)
        return chosen
    finally:
        runtime.close()


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=120, help="corpus messages")
    parser.add_argument("--config", type=Path, default=None, help="an ambient.toml: its rules")
    parser.add_argument("--json", action="store_true", help="one JSON document, no tables")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ambient-bench-prerules-") as home:
        chosen = asyncio.run(run(args, Path(home)))
    if args.json:
        document = {"datasets": [f.as_json() for f in chosen], "built_ins": list(BUILT_INS)}
        print(json.dumps(document, indent=1))
        return
    rules = f"[[rules]] of {args.config} and " if args.config else ""
    print(f"pre-rules: {rules}the built-ins ({', '.join(BUILT_INS)}) before any model call")
    print_figures(chosen)
    print()
    print(NOTES)


if __name__ == "__main__":
    main()
