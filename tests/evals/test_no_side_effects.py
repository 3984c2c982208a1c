"""A replay has no side effects: nothing queued, executed, traced or written to memory or notes;
the memory it reads is a copy, of the folder as it is or of an older commit."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.models.function import AgentInfo
from sqlalchemy import Engine, func, inspect, table
from sqlmodel import select

from ambient.approvals.tables import Approval
from ambient.core.config import Settings
from ambient.core.db import read_session
from ambient.core.tables import Item
from ambient.memory.history import MemoryHistory
from ambient.runtime import Runtime
from tests.conftest import CommandLine
from tests.evals.conftest import PlannedModel, as_the_human_did


def files(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under `folder` (.git too): its hash and modification time."""
    return {
        str(path.relative_to(folder)): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# The one thing a replay of the live setup records: each action class's eval agreement, as
# earned autonomy's evidence (tests/evals/test_autonomy_evidence.py).
EVIDENCE = frozenset({"autonomy_class"})


def tables(engine: Engine) -> dict[str, Any]:
    """Row counts of every table in the database but autonomy's evidence, and the items' and
    approvals' states."""
    with read_session(engine) as session:
        counts = {
            name: session.exec(select(func.count()).select_from(table(name))).one()
            for name in inspect(engine).get_table_names()
            if name not in EVIDENCE
        }
        items = [(i.id, i.state, i.updated_at, i.triage_json) for i in session.exec(select(Item))]
        approvals = [(a.id, a.status, a.decision) for a in session.exec(select(Approval))]
    return {"counts": counts, "items": items, "approvals": approvals}


@pytest.fixture
def memory_history(settings: Settings) -> MemoryHistory:
    folder = settings.memory_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "triage_rules.md").write_text("# Triage rules\n\nRule: OLD\n", encoding="utf-8")
    history = MemoryHistory(folder)
    history.ensure_repository()
    return history


def use_model(monkeypatch: pytest.MonkeyPatch, planned: PlannedModel) -> None:
    """The runtime's configured model (what `eval run` replays with by default)."""
    monkeypatch.setattr(Runtime, "model", property(lambda runtime: planned.model))


def test_a_replay_writes_nothing_to_the_queue_the_ledger_the_notes_or_the_memory(
    cli: CommandLine,
    settings: Settings,
    engine: Engine,
    inbox: list[int],
    memory_history: MemoryHistory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.notes_dir.mkdir(parents=True, exist_ok=True)
    (settings.notes_dir / "meetings.md").write_text("# Meetings\n", encoding="utf-8")
    use_model(monkeypatch, PlannedModel(as_the_human_did))
    before = (files(settings.memory_dir), files(settings.notes_dir), tables(engine))

    code, output = cli.json("eval", "run")

    assert code == 0, output
    assert output["models"][0]["triage_agreement"] == 1.0  # it did replay, drafting replies
    after = (files(settings.memory_dir), files(settings.notes_dir), tables(engine))
    assert after == before
    assert output["langfuse"] is None and "Langfuse is off" in output["tracing"]


def memory_echo(seen: list[str]) -> PlannedModel:
    """Ignores the mail under the OLD rule, notifies under any other; notes the rule it saw."""

    def plan(subject: str, info: AgentInfo) -> tuple[str, str | None]:
        rule = next(
            w for w in ("OLD", "NEW", "EDITED") if f"Rule: {w}" in (info.instructions or "")
        )
        seen.append(rule)
        return ("ignore" if rule == "OLD" else "notify"), None

    return PlannedModel(plan)


def test_memory_at_replays_with_the_memory_of_that_commit_and_leaves_the_folder_alone(
    cli: CommandLine,
    settings: Settings,
    engine: Engine,
    inbox: list[int],
    memory_history: MemoryHistory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = memory_history.head()
    rules = settings.memory_dir / "triage_rules.md"
    rules.write_text("# Triage rules\n\nRule: NEW\n", encoding="utf-8")
    memory_history.commit_all("memory: a newer rule")
    rules.write_text("# Triage rules\n\nRule: EDITED\n", encoding="utf-8")  # not committed
    seen: list[str] = []
    use_model(monkeypatch, memory_echo(seen))
    before = files(settings.memory_dir)

    code, at_old = cli.json("eval", "run", "--memory-at", old[:10])
    assert code == 0, at_old
    assert set(seen) == {"OLD"} and len(seen) == 5
    assert at_old["memory"]["commit"] == old and at_old["memory"]["at"] == old[:10]
    assert at_old["models"][0]["triage_agreement"] == 0.2  # only the newsletter is ignored

    seen.clear()
    code, now = cli.json("eval", "run", "--memory-at", "HEAD")
    assert code == 0 and set(seen) == {"NEW"}

    seen.clear()
    code, now = cli.json("eval", "run")
    assert code == 0 and set(seen) == {"EDITED"}  # the folder as it is, edits and all
    assert now["memory"] == {
        "at": None,
        "commit": memory_history.head(),
        "label": f"the memory folder as it is now (HEAD {memory_history.head()[:12]})",
    }
    assert now["models"][0]["triage_agreement"] == 0.2  # the notice: notify
    assert files(settings.memory_dir) == before


def test_a_commit_the_memory_history_does_not_have_is_a_clear_error(
    cli: CommandLine, inbox: list[int], memory_history: MemoryHistory
) -> None:
    code, output = cli.run("eval", "run", "--memory-at", "0123abc")
    assert code == 2
    assert "--memory-at 0123abc: memory history has no revision '0123abc'" in output

    code, output = cli.run("eval", "run", "--memory-at", "HEAD; rm")
    assert code == 2 and "is not a revision" in output


def test_memory_at_without_a_memory_history_says_so(
    cli: CommandLine, settings: Settings, inbox: list[int]
) -> None:
    code, output = cli.run("eval", "run", "--memory-at", "HEAD")
    assert code == 2
    assert "has no git history" in " ".join(output.split())
