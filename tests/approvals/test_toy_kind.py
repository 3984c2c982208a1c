"""A kind is one module: a toy kind defined here, registered at run time, goes from a draft by the
model to execution through the agent's tools and prompt, the policy gate, the queue, the TUI,
the CLI and the outbox, with no other file knowing it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import Field
from sqlalchemy import Engine

from ambient.agent.processor import AgentProcessor
from ambient.agent.runner import TriageAgent
from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.editing import draft_to_text, text_to_args
from ambient.approvals.executors import ExecutionResult, Executor
from ambient.approvals.kinds import (
    KINDS,
    ActionArguments,
    DraftItem,
    DraftToFix,
    ExecutorParts,
    Kind,
    PolicyCheck,
    build_executors,
)
from ambient.approvals.outbox import Outbox
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import Secrets, Settings
from ambient.core.errors import DecisionError
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from ambient.memory.store import MemoryStore
from ambient.tui.app import AmbientApp
from ambient.tui.widgets.detail import DetailPane, detail_text
from ambient.tui.widgets.row_list import RowList
from tests.agent.scripted import Script, call, respond, tool_returns
from tests.approvals.test_commands import _editor_script
from tests.conftest import CommandLine, FrozenClock
from tests.tui.conftest import email_bytes, shows_detail, tui, wait_for  # noqa: F401


# ---- the toy kind: everything about it, in one place ---------------------------------------
class PostIt(ActionArguments):
    colour: Literal["yellow", "pink"] = Field(default="yellow", description="The note's colour.")
    text: str = Field(min_length=1, max_length=200, description="What the note says.")


class PostItDraft(PostIt):
    rationale: str = Field(description="Why this note.")


class PostItExecutor:
    """Sticks the note on a board (a folder), once per idempotency key."""

    def __init__(self, board: Path) -> None:
        self.board = board

    async def execute(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        note = POST_IT.parse(approval.effective_args)
        path = self.board / f"{idempotency_key}.txt"
        if path.exists():
            return ExecutionResult(f"post-it {path.name} is up already")
        self.board.mkdir(parents=True, exist_ok=True)
        path.write_text(f"[{note.colour}] {note.text}\n", encoding="utf-8")
        return ExecutionResult(f"stuck a {note.colour} post-it", {"file": path.name})


class PostItKind(Kind[PostIt]):
    name = "post_it"
    label = "post-it"
    arguments = PostIt
    draft = PostItDraft
    description = "Draft a sticky note on the user's screen. Runs only after the user approves."
    prompt_hint = "a sticky note on the user's screen"
    body_field = "text"
    rules = {"post_it_shouting": "warn"}

    def check_draft(self, draft: PostIt, item: DraftItem, settings: Settings) -> None:
        if len(draft.text) > 40:
            raise DraftToFix("post_it: a post-it holds 40 characters at most")

    def approved(self, args: dict[str, Any]) -> str:
        return f"post-it {args['text']!r}"

    def concerns(self, args: dict[str, Any]) -> str:
        return f"{args.get('colour', 'yellow')} post-it"

    def summary(self, args: dict[str, Any], fallback: str = "") -> str:
        return str(args.get("text", ""))

    def to_text(self, args: dict[str, Any], *, comment: str = "") -> str:
        lines = [f"# {line}" for line in comment.splitlines()]
        return (
            "\n".join([*lines, f"[{args.get('colour', 'yellow')}] {args.get('text', '')}"]) + "\n"
        )

    def from_text(self, text: str) -> dict[str, Any]:
        lines = [line.strip() for line in text.splitlines() if not line.startswith("#")]
        match = re.fullmatch(r"\[(\w+)\] (.+)", " ".join(line for line in lines if line))
        if match is None:
            raise DecisionError("post_it: expected `[colour] text`")
        return self.validate({"colour": match[1], "text": match[2]})

    def check(self, action: PostIt, check: PolicyCheck) -> None:
        if action.text.isupper():
            check.add("post_it_shouting", "all in capitals")

    def build_executor(self, parts: ExecutorParts) -> Executor:
        return PostItExecutor(parts.settings.data_dir / "post-its")


POST_IT = PostItKind()


@pytest.fixture
def post_it() -> Iterator[PostItKind]:
    with KINDS.registered(POST_IT) as kind:
        yield kind
    assert "post_it" not in KINDS


# ---- the rest of ambient, which knows nothing about it ---------------------------------------
def memory(settings: Settings) -> MemoryStore:
    settings.memory_dir.mkdir(parents=True, exist_ok=True)
    (settings.memory_dir / "profile.md").write_text("# Profile\nName: Robin.\n", encoding="utf-8")
    return MemoryStore(settings.memory_dir)


def outbox(settings: Settings, secrets: Secrets, engine: Engine, clock: FrozenClock) -> Outbox:
    executors = build_executors(settings, secrets, engine, clock)
    policy = PolicyGate.from_settings(settings)
    return Outbox(engine, clock, settings, secrets, policy, executors, owner="test")


def queued_by_hand(ledger: Ledger, queue: ApprovalQueue, args: dict[str, Any]) -> Approval:
    result = ledger.ingest(InboundItem("inbox", f"k{args['text']}", email_bytes()))
    (row,) = queue.queue_drafts(
        context=ActionContext(result.item_id, frozenset(), "v1"),
        trace_id="5" * 32,
        run_state=None,
        drafts=[DraftedAction("post_it", "call-1", args, "a toy")],
    )
    return row


async def test_a_kind_registered_at_run_time_goes_from_the_models_draft_to_execution(
    post_it: PostItKind,
    settings: Settings,
    secrets: Secrets,
    engine: Engine,
    clock: FrozenClock,
    queue: ApprovalQueue,
    ledger: Ledger,
    cli: CommandLine,
    tui: Callable[..., AmbientApp],  # noqa: F811
) -> None:
    # draft: the model sees the kind as a tool and in the prompt; a draft it can fix is retried
    script = Script(
        respond(
            call(
                "post_it",
                colour="pink",
                text="Call Dana back about the budget, today, before five",
                rationale="r",
            )
        ),
        respond(call("post_it", colour="pink", text="Call Dana back", rationale="Dana asked")),
    )
    agent = TriageAgent(settings, script.model, memory(settings), clock)
    ledger.ingest(InboundItem("inbox", "m1", email_bytes(subject="Call me?")))
    (claimed,) = ledger.claim("test-worker", 1)
    outcome = await AgentProcessor(agent, queue).process(claimed)
    ledger.complete(claimed.id, "test-worker", outcome.state, outcome.triage)
    first = script.infos[0]
    assert "post_it" in [tool.name for tool in first.function_tools]
    assert "post_it (a sticky note on the user's screen)" in (first.instructions or "")
    (retry,) = tool_returns(script.requests[1])
    assert "40 characters at most" in str(retry.content)

    # queue: through the policy gate, waiting for the human
    (row,) = queue.list(item_id=claimed.id)
    assert (row.kind, row.status, row.warnings) == ("post_it", ApprovalStatus.PENDING, [])
    assert row.args == {"colour": "pink", "text": "Call Dana back"}
    assert row.rationale == "Dana asked"

    # the TUI: the listing and the detail say what the kind says
    app = tui()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, shows_detail(app, row.id))
        (listed,) = app.screen.query_one("#queue", RowList).rows
        assert listed.cells[:3] == ("post-it", "pink post-it", "Call Dana back")
        view = app.screen.query_one(DetailPane).view
        assert view is not None
        shown = detail_text(view, clock.now()).plain
        assert "#1 post_it" in shown and "Colour: pink\n\nCall Dana back\n" in shown

    # the CLI: shown, listed, approved on the hash of what it showed
    code, out = cli.run("approvals", "show", str(row.id))
    assert code == 0 and "post_it" in out and "text: Call Dana back" in out
    assert f"hash: {row.shown_hash}" in out
    code, out = cli.run("approvals", "list")
    assert code == 0 and "post-it pink post-it: Call Dana back" in " ".join(out.split())
    code, decided = cli.json("approvals", "approve", str(row.id), "--hash", row.shown_hash)
    assert code == 0 and decided[0]["approval"]["status"] == "approved"

    # execute: the outbox runs the kind's own executor, exactly once
    assert await outbox(settings, secrets, engine, clock).run_until_idle() == 1
    done = queue.get(row.id)
    assert (
        done.status == ApprovalStatus.EXECUTED and done.result["summary"] == "stuck a pink post-it"
    )
    (note,) = (settings.data_dir / "post-its").iterdir()
    assert note.read_text(encoding="utf-8") == "[pink] Call Dana back\n"
    assert await outbox(settings, secrets, engine, clock).run_until_idle() == 0
    assert ledger.get(claimed.id).state == ItemState.DONE


def test_its_text_form_is_what_the_editor_opens_and_its_rule_is_the_gates(
    post_it: PostItKind,
    queue: ApprovalQueue,
    ledger: Ledger,
    cli: CommandLine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert draft_to_text("post_it", {"colour": "yellow", "text": "Hi"}) == "[yellow] Hi\n"
    assert text_to_args("post_it", "# a comment\n[pink] Hi there\n") == {
        "colour": "pink",
        "text": "Hi there",
    }
    row = queued_by_hand(ledger, queue, {"colour": "yellow", "text": "CALL DANA"})
    assert row.status == ApprovalStatus.PENDING
    assert row.warnings == ["post_it_shouting: all in capitals"]
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv(
        "EDITOR", _editor_script(tmp_path, "^\\[yellow\\] CALL DANA$/[pink] Call Dana/")
    )
    code, outcome = cli.json("approvals", "edit", str(row.id))
    assert code == 0, outcome
    approval = outcome[0]["approval"]
    assert approval["decision"] == "edited" and approval["warnings"] == []
    assert approval["effective_args"] == {"colour": "pink", "text": "Call Dana"}


def test_a_row_of_a_kind_no_longer_registered_still_shows_and_is_blocked(
    settings: Settings, queue: ApprovalQueue, ledger: Ledger, cli: CommandLine
) -> None:
    with KINDS.registered(POST_IT):
        row = queued_by_hand(ledger, queue, {"colour": "pink", "text": "Hi"})
    code, out = cli.run("approvals", "show", str(row.id))
    assert code == 0 and "post_it" in out and "text: Hi" in out
    assert draft_to_text("post_it", row.args).startswith("{\n")
    report = PolicyGate.from_settings(settings).check(
        "post_it", row.args, thread_addresses=frozenset()
    )
    assert report.block_reason is not None
    assert report.block_reason.startswith("invalid_arguments: unknown action kind 'post_it'")
