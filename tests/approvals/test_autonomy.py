"""Earned autonomy: a class earns approval by rule with a streak of clean human approvals, acts
only on drafts the policy gate passes cleanly, and goes back to the human by itself."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from ambient.approvals.audit import AuditLog
from ambient.approvals.autonomy import autonomy_class
from ambient.approvals.autonomy_status import Autonomy, ClassEvidence
from ambient.approvals.drafts import DraftedAction
from ambient.approvals.events import TracedApprovals
from ambient.approvals.executors import ExecutionError, ExecutionResult
from ambient.approvals.journal import DeliveryJournal
from ambient.approvals.kinds.write_note import NotesExecutor
from ambient.approvals.outbox import Outbox
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import Secrets, Settings
from ambient.core.db import open_database
from ambient.core.errors import NotFoundError
from ambient.core.items import InboundItem
from ambient.core.ledger import Ledger
from ambient.core.mcp_settings import McpServerSettings
from ambient.tracing.assembly import Tracing
from tests.approvals.conftest import (
    THREAD_START,
    AddItem,
    Queue,
    context_for,
    email_in_thread,
    reply,
)
from tests.approvals.test_events import tracing  # noqa: F401 - the local trace log
from tests.conftest import FrozenClock

DANA = "reply_email:dana@example.com"
PROJECTS = "write_note:projects/"
STREAK = 3


@pytest.fixture(autouse=True)
def earned_autonomy(settings: Settings) -> Settings:
    """Autonomy enabled, with a short streak (the queue reads the settings as they are now)."""
    settings.autonomy.enabled = True
    settings.autonomy.streak = STREAK
    return settings


@pytest.fixture
def trust(engine: Engine, clock: FrozenClock, settings: Settings) -> Autonomy:
    return Autonomy(engine, clock, settings)


def evidence(trust: Autonomy, name: str = DANA) -> ClassEvidence:
    (found,) = [entry for entry in trust.status().classes if entry.name == name]
    return found


def note(path: str = "projects/plan.md", content: str = "The plan.\n") -> DraftedAction:
    return DraftedAction("write_note", f"note-{path}", {"path": path, "content": content}, "r")


def approve_clean(queue: ApprovalQueue, queue_for: Queue, *drafts: DraftedAction) -> list[int]:
    """A human approves each draft as it is (each in an item of its own)."""
    ids = []
    for draft in drafts:
        (row,) = queue_for(draft)
        assert row.status == ApprovalStatus.PENDING and not row.warnings
        queue.approve(row.id, shown_hash=row.shown_hash, actor="cli:me")
        ids.append(row.id)
    return ids


@pytest.fixture
def autonomous(queue: ApprovalQueue, queue_for: Queue, trust: Autonomy) -> list[int]:
    """Dana's replies earned autonomy: three approvals in a row without an edit (their ids)."""
    ids = approve_clean(queue, queue_for, *[reply() for _ in range(STREAK)])
    earned = evidence(trust)
    assert (earned.level, earned.acting) == ("autonomous", True)
    return ids


@pytest.fixture
def waiting(queue: ApprovalQueue, queue_for: Queue, trust: Autonomy) -> Approval:
    """A reply to Dana still waiting for the human, queued before her class earned autonomy."""
    (row,) = queue_for(reply(body="Sorry, I can't make it."))
    approve_clean(queue, queue_for, *[reply() for _ in range(STREAK)])
    assert evidence(trust).level == "autonomous"
    return row


# ---- classes -----------------------------------------------------------------------------
def test_an_action_class_is_its_kind_and_the_scope_its_kind_module_names() -> None:
    assert autonomy_class("reply_email", {"to": ["Dana@Example.com"]}) == DANA
    one = {"to": ["a@x.org"], "cc": ["a@x.org"]}
    assert autonomy_class("send_email", one) == "send_email:a@x.org"
    assert autonomy_class("reply_email", {"to": ["a@x.org"], "cc": ["b@x.org"]}) is None
    assert (
        autonomy_class("write_note", {"path": "projects/q3/plan.md"}) == "write_note:projects/q3/"
    )
    assert autonomy_class("write_note", {"path": "inbox.md"}) == "write_note:./"
    assert autonomy_class("write_note", {"path": "../escape.md"}) is None
    url = {"url": "https://Hooks.example.com:8443/ambient/done?id=7", "payload": {}}
    endpoint = "call_webhook:https://hooks.example.com:8443/ambient/done"
    assert autonomy_class("call_webhook", url) == endpoint
    assert autonomy_class("memory_update", {"file": "people.md"}) is None
    assert autonomy_class("no_such_kind", {"to": ["a@x.org"]}) is None


# ---- promotion ---------------------------------------------------------------------------
def test_a_class_earns_autonomy_after_the_streak_and_then_approves_its_clean_drafts(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy, engine: Engine
) -> None:
    approve_clean(queue, queue_for, *[reply() for _ in range(STREAK - 1)])
    assert (evidence(trust).level, evidence(trust).streak) == ("learning", STREAK - 1)
    (still_human,) = queue_for(reply())
    assert still_human.status == ApprovalStatus.PENDING
    queue.approve(still_human.id, shown_hash=still_human.shown_hash, actor="cli:me")
    earned = evidence(trust)
    assert (earned.level, earned.streak, earned.acting) == ("autonomous", STREAK, True)
    assert earned.reason == f"{STREAK} approvals in a row without an edit"

    (automatic,) = queue_for(reply())

    assert automatic.status == ApprovalStatus.APPROVED
    assert automatic.decided_by == f"autonomy:{DANA}" and automatic.idempotency_key
    assert evidence(trust).auto_approved == 1
    entries = AuditLog(engine).entries(approval_id=automatic.id, newest_first=False)
    assert [(entry.event, entry.actor) for entry in entries] == [
        ("queued", "agent"),
        ("approved", f"autonomy:{DANA}"),
    ]
    assert entries[1].details["shown_hash"] == automatic.shown_hash
    promoted = AuditLog(engine).entries(approval_id=still_human.id, newest_first=False)
    assert [entry.event for entry in promoted][-1] == "autonomy_promoted"
    assert AuditLog(engine).verify_chain().ok


def test_other_classes_still_wait_for_the_human(queue_for: Queue, autonomous: list[int]) -> None:
    (to_lee,) = queue_for(reply(to=["lee@example.com"]))
    (to_both,) = queue_for(reply(cc=["lee@example.com"]))
    assert to_lee.status == to_both.status == ApprovalStatus.PENDING


def test_an_approval_of_acknowledged_warnings_neither_counts_nor_breaks_the_streak(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy, settings: Settings
) -> None:
    (settings.notes_dir / "projects").mkdir(parents=True)
    (settings.notes_dir / "projects" / "plan.md").write_text("old\n")
    approve_clean(queue, queue_for, note("projects/a.md"), note("projects/b.md"))
    (warned,) = queue_for(note())
    assert warned.warnings and "note_exists" in warned.warnings[0]
    queue.approve(warned.id, shown_hash=warned.shown_hash, acknowledge_warnings=True, actor="me")
    assert (evidence(trust, PROJECTS).streak, evidence(trust, PROJECTS).level) == (2, "learning")
    approve_clean(queue, queue_for, note("projects/c.md"))
    assert evidence(trust, PROJECTS).level == "autonomous"


def test_an_eval_below_the_threshold_holds_promotion_back_until_a_better_one(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy
) -> None:
    approve_clean(queue, queue_for, *[reply() for _ in range(STREAK - 1)])
    trust.record_eval_agreement(DANA, 0.95, 40)
    approve_clean(queue, queue_for, reply())
    assert evidence(trust).level == "autonomous"
    assert evidence(trust).reason.endswith("eval agreement 95% over 40 items")

    trust.reset(DANA, "cli:me")
    trust.record_eval_agreement(DANA, 0.5, 10)
    approve_clean(queue, queue_for, *[reply() for _ in range(STREAK)])
    held = evidence(trust)
    assert (held.level, held.streak, held.note) == ("learning", STREAK, "eval agreement below 90%")
    trust.record_eval_agreement(DANA, 0.92, 25)
    assert evidence(trust).level == "autonomous"


def test_nothing_is_autonomous_unless_ambient_toml_enables_it(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy, settings: Settings
) -> None:
    settings.autonomy.enabled = False
    approve_clean(queue, queue_for, *[reply() for _ in range(STREAK + 1)])
    (row,) = queue_for(reply())
    assert row.status == ApprovalStatus.PENDING
    kept = evidence(trust)  # the evidence is kept all the same
    assert (kept.level, kept.streak, kept.acting) == ("learning", STREAK + 1, False)
    assert kept.note == "autonomy is off in ambient.toml"
    assert "off in ambient.toml" in trust.status().summary()

    settings.autonomy.enabled = True  # enabled later: the class earned it already
    (automatic,) = queue_for(reply())
    assert automatic.decided_by == f"autonomy:{DANA}"
    assert evidence(trust).level == "autonomous"


def test_only_the_kinds_in_autonomy_kinds_earn_it(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy, settings: Settings
) -> None:
    settings.autonomy.kinds = ["write_note"]
    approve_clean(queue, queue_for, *[reply() for _ in range(STREAK)])
    (row,) = queue_for(reply())
    assert row.status == ApprovalStatus.PENDING
    assert (evidence(trust).level, evidence(trust).note) == (
        "learning",
        "reply_email is not in autonomy.kinds",
    )
    approve_clean(queue, queue_for, *[note(f"projects/{n}.md") for n in range(STREAK)])
    (automatic,) = queue_for(note("projects/new.md"))
    assert automatic.status == ApprovalStatus.APPROVED


# ---- what the rule never takes -------------------------------------------------------------
def test_blocked_and_warned_drafts_are_never_approved_by_rule(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy, settings: Settings
) -> None:
    approve_clean(queue, queue_for, *[note(f"projects/{n}.md") for n in range(STREAK)])
    assert evidence(trust, PROJECTS).level == "autonomous"
    (settings.notes_dir / "projects").mkdir(parents=True, exist_ok=True)
    (settings.notes_dir / "projects" / "plan.md").write_text("old\n")
    (warned,) = queue_for(note())
    too_long = "x" * (settings.policy.max_body_chars + 1)
    (blocked,) = queue_for(note("projects/long.md", too_long))

    assert (warned.status, warned.decided_by) == (ApprovalStatus.PENDING, None)
    assert (blocked.status, blocked.decided_by) == (ApprovalStatus.BLOCKED, None)
    assert evidence(trust, PROJECTS).auto_approved == 0


def test_a_revision_asked_for_with_feedback_waits_for_the_human(
    queue: ApprovalQueue, queue_for: Queue, autonomous: list[int]
) -> None:
    (note_row,) = queue_for(note("ideas.md"))
    queue.feedback(note_row.id, shown_hash=note_row.shown_hash, message="a reply", actor="me")
    (revision,) = queue_for(reply(), item_id=note_row.item_id, parent_id=note_row.id)
    assert revision.status == ApprovalStatus.PENDING


def test_a_draft_whose_thread_moved_on_waits_for_the_human(
    queue_for: Queue, add_item: AddItem, autonomous: list[int]
) -> None:
    item_id = add_item()
    add_item(email_in_thread("<lunch-3@example.com>"))
    (row,) = queue_for(reply(), item_id=item_id)
    assert row.status == ApprovalStatus.PENDING


# ---- demotion ------------------------------------------------------------------------------
def _reject(queue: ApprovalQueue, row: Approval) -> None:
    queue.reject(row.id, shown_hash=row.shown_hash, reason="not to Dana", actor="cli:me")


def _edit(queue: ApprovalQueue, row: Approval) -> None:
    args = {**row.args, "body": "Friday works."}
    queue.edit(row.id, shown_hash=row.shown_hash, args=args, actor="cli:me")


def _feedback(queue: ApprovalQueue, row: Approval) -> None:
    queue.feedback(row.id, shown_hash=row.shown_hash, message="warmer", actor="cli:me")


@pytest.mark.parametrize(
    ("decide", "reason"),
    [
        (_reject, "rejected #{id} by cli:me: not to Dana"),
        (_edit, "edited #{id} by cli:me"),
        (_feedback, "feedback on #{id} by cli:me: warmer"),
    ],
    ids=["reject", "edit", "feedback"],
)
def test_the_first_rejection_edit_or_feedback_demotes_the_class(
    queue: ApprovalQueue,
    queue_for: Queue,
    trust: Autonomy,
    engine: Engine,
    waiting: Approval,
    decide: Callable[[ApprovalQueue, Approval], None],
    reason: str,
) -> None:
    (automatic,) = queue_for(reply())
    assert automatic.status == ApprovalStatus.APPROVED
    human = queue.get(waiting.id)
    decide(queue, human)

    demoted = evidence(trust)
    assert (demoted.level, demoted.streak, demoted.acting) == ("demoted", 0, False)
    assert demoted.reason == reason.format(id=human.id)
    (next_one,) = queue_for(reply())
    assert next_one.status == ApprovalStatus.PENDING
    events = [entry.event for entry in AuditLog(engine).entries(approval_id=human.id)]
    assert "autonomy_demoted" in events
    assert AuditLog(engine).verify_chain().ok


def test_an_eval_agreement_below_the_threshold_demotes_the_class(
    queue_for: Queue, trust: Autonomy, autonomous: list[int]
) -> None:
    demoted = trust.record_eval_agreement(DANA, 0.7, 30)

    assert (demoted.level, demoted.streak, demoted.eval_agreement) == ("demoted", 0, 0.7)
    assert demoted.reason == "eval agreement 70% over 30 items, below 90%"
    (row,) = queue_for(reply())
    assert row.status == ApprovalStatus.PENDING


def test_a_demoted_class_earns_autonomy_again_with_a_new_streak(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy, waiting: Approval
) -> None:
    _reject(queue, waiting)
    assert evidence(trust).level == "demoted"
    approve_clean(queue, queue_for, *[reply() for _ in range(STREAK)])
    assert evidence(trust).level == "autonomous"


def test_undoing_an_automatic_approval_demotes_the_class(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy, autonomous: list[int]
) -> None:
    (automatic,) = queue_for(reply())
    queue.undo(automatic.id, actor="tui:me")

    demoted = evidence(trust)
    assert (demoted.level, demoted.streak) == ("demoted", 0)
    assert demoted.reason == f"automatic approval #{automatic.id} undone by tui:me"
    assert queue.get(automatic.id).status == ApprovalStatus.PENDING


def test_undoing_a_human_approval_takes_it_back_from_the_streak(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy, autonomous: list[int]
) -> None:
    queue.undo(autonomous[-1], actor="cli:me")

    back = evidence(trust)
    assert (back.level, back.streak) == ("learning", STREAK - 1)
    assert back.reason == f"approval #{autonomous[-1]} undone by cli:me: 2 of 3 approvals in a row"
    (row,) = queue_for(reply())
    assert row.status == ApprovalStatus.PENDING


def test_undoing_an_approval_from_before_the_streak_restarted_changes_nothing(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy, clock: FrozenClock
) -> None:
    (old,) = approve_clean(queue, queue_for, reply())
    clock.advance(minutes=1)
    (rejected,) = queue_for(reply())
    _reject(queue, rejected)
    clock.advance(minutes=1)
    approve_clean(queue, queue_for, reply())
    queue.undo(old, actor="cli:me")
    assert evidence(trust).streak == 1


# ---- the kill switch and reset -------------------------------------------------------------
def test_the_kill_switch_stops_the_rule_at_once_and_on_resumes_it(
    queue_for: Queue, trust: Autonomy, engine: Engine, autonomous: list[int]
) -> None:
    assert trust.switch(False, "cli:me") is True
    assert trust.switch(False, "cli:me") is False  # already off: nothing written
    (held,) = queue_for(reply())
    assert held.status == ApprovalStatus.PENDING
    status = trust.status()
    assert (status.switched_on, status.active, status.classes[0].note) == (
        False,
        False,
        "switched off",
    )

    trust.switch(True, "cli:me")
    (resumed,) = queue_for(reply())
    assert resumed.decided_by == f"autonomy:{DANA}"
    switches = [
        entry for entry in AuditLog(engine).entries() if entry.event.startswith("autonomy_o")
    ]
    assert [(entry.event, entry.actor) for entry in switches] == [
        ("autonomy_on", "cli:me"),
        ("autonomy_off", "cli:me"),
    ]
    assert AuditLog(engine).verify_chain().ok


def test_reset_puts_a_class_back_to_learning_with_a_streak_of_0(
    queue_for: Queue, trust: Autonomy, autonomous: list[int]
) -> None:
    reset = trust.reset(DANA, "cli:me")
    assert (reset.level, reset.streak, reset.reason) == ("learning", 0, "reset by cli:me")
    (row,) = queue_for(reply())
    assert row.status == ApprovalStatus.PENDING
    with pytest.raises(NotFoundError, match="no action class"):
        trust.reset("reply_email:nobody@example.com", "cli:me")


# ---- like any approval: the trace, the outbox --------------------------------------------
async def test_an_automatic_approval_is_scored_on_the_trace_and_runs_once(
    tracing: Tracing,  # noqa: F811
    engine: Engine,
    clock: FrozenClock,
    settings: Settings,
    secrets: Secrets,
    ledger: Ledger,
    add_item: AddItem,
) -> None:
    events = TracedApprovals(tracing.tracer)
    policy = PolicyGate.from_settings(settings)
    queue = ApprovalQueue(engine, clock, settings, policy, events)

    def queued(path: str) -> Approval:
        item_id = add_item()
        (row,) = queue.queue_drafts(
            context=context_for(ledger, item_id),
            trace_id=ledger.get(item_id).trace_id or "",
            run_state=None,
            drafts=[note(path)],
        )
        return row

    for number in range(STREAK):
        row = queued(f"projects/{number}.md")
        queue.approve(row.id, shown_hash=row.shown_hash, actor="cli:me")
    automatic = queued("projects/auto.md")
    assert automatic.status == ApprovalStatus.APPROVED

    trace = tracing.trace_log.events(trace_id=automatic.trace_id)
    (score,) = [event for event in trace if event.kind == "score"]
    assert score.detail["decision"] == "approved"
    assert score.detail["decided_by"] == f"autonomy:{PROJECTS}"
    assert "automatic decision" in [event.name for event in trace]
    notes = NotesExecutor(settings.notes_dir, settings.data_dir / "outbox" / "notes")
    outbox = Outbox(engine, clock, settings, secrets, policy, {"write_note": notes}, events=events)
    assert await outbox.tick() == STREAK + 1
    assert await outbox.tick() == 0
    assert queue.get(automatic.id).status == ApprovalStatus.EXECUTED
    assert (settings.notes_dir / "projects" / "auto.md").read_text() == "The plan.\n"
    assert AuditLog(engine).verify_chain().ok


def test_on_postgres_the_evidence_and_the_switch_work_the_same(
    postgres_url: str, clock: FrozenClock, settings: Settings
) -> None:
    engine = open_database(postgres_url)
    keys = itertools.count()
    try:
        ledger = Ledger(engine, clock, settings.worker)
        queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
        trust = Autonomy(engine, clock, settings)

        def queued() -> Approval:
            item_id = ledger.ingest(InboundItem("inbox", f"pg-{next(keys)}", THREAD_START)).item_id
            (row,) = queue.queue_drafts(
                context=context_for(ledger, item_id), trace_id="", run_state=None, drafts=[reply()]
            )
            return row

        waiting = queued()
        for _ in range(STREAK):
            row = queued()
            queue.approve(row.id, shown_hash=row.shown_hash, actor="cli:me")
        assert queued().decided_by == f"autonomy:{DANA}"
        trust.switch(False, "cli:me")
        assert queued().status == ApprovalStatus.PENDING
        trust.switch(True, "cli:me")
        _reject(queue, waiting)
        assert (evidence(trust).level, evidence(trust).streak) == ("demoted", 0)
        assert AuditLog(engine).verify_chain().ok
    finally:
        engine.dispose()


# ---- before it runs: the outbox asks again -------------------------------------------------
class FlakyExecutor:
    """Records each call; while `down`, every try fails as a mail server that is down would."""

    def __init__(self) -> None:
        self.down = False
        self.calls: list[int] = []

    async def execute(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        self.calls.append(approval.id or 0)
        if self.down:
            raise ExecutionError("the server is down")
        return ExecutionResult("done")


@pytest.fixture
def executor() -> FlakyExecutor:
    return FlakyExecutor()


@pytest.fixture
def outbox(
    engine: Engine,
    clock: FrozenClock,
    settings: Settings,
    secrets: Secrets,
    policy: PolicyGate,
    executor: FlakyExecutor,
) -> Outbox:
    return Outbox(engine, clock, settings, secrets, policy, {"write_note": executor})


@pytest.fixture
async def in_backoff(
    queue: ApprovalQueue,
    queue_for: Queue,
    trust: Autonomy,
    outbox: Outbox,
    executor: FlakyExecutor,
) -> tuple[Approval, Approval]:
    """A note the rule approved whose first try failed (it waits in backoff), and a sibling
    in its class still waiting for the human (queued before the class earned autonomy)."""
    (sibling,) = queue_for(note("projects/draft.md"))
    approve_clean(queue, queue_for, *[note(f"projects/{n}.md") for n in range(STREAK)])
    (automatic,) = queue_for(note("projects/auto.md"))
    assert automatic.decided_by == f"autonomy:{PROJECTS}"
    executor.down = True
    await outbox.run_until_idle()
    assert queue.get(automatic.id).status == ApprovalStatus.FAILED
    executor.down = False
    executor.calls.clear()
    return automatic, sibling


def _switch_off(
    queue: ApprovalQueue, trust: Autonomy, settings: Settings, sibling: Approval
) -> None:
    trust.switch(False, "cli:me")


def _off_in_config(
    queue: ApprovalQueue, trust: Autonomy, settings: Settings, sibling: Approval
) -> None:
    settings.autonomy.enabled = False


def _sibling_rejected(
    queue: ApprovalQueue, trust: Autonomy, settings: Settings, sibling: Approval
) -> None:
    queue.reject(sibling.id, shown_hash=sibling.shown_hash, reason="not now", actor="cli:me")


def _kind_no_longer_allowed(
    queue: ApprovalQueue, trust: Autonomy, settings: Settings, sibling: Approval
) -> None:
    settings.autonomy.kinds = ["reply_email"]


@pytest.mark.parametrize(
    ("revoke", "reason"),
    [
        (_switch_off, "autonomy was switched off by cli:me"),
        (_off_in_config, "autonomy is off in ambient.toml"),
        (_sibling_rejected, f"{PROJECTS} is demoted: rejected #{{sibling}} by cli:me: not now"),
        (_kind_no_longer_allowed, "write_note is not in autonomy.kinds"),
    ],
    ids=["kill-switch", "config", "demotion", "kinds"],
)
async def test_an_automatic_approval_waiting_to_run_goes_back_to_the_human_once_revoked(
    queue: ApprovalQueue,
    trust: Autonomy,
    settings: Settings,
    outbox: Outbox,
    executor: FlakyExecutor,
    clock: FrozenClock,
    engine: Engine,
    in_backoff: tuple[Approval, Approval],
    revoke: Callable[[ApprovalQueue, Autonomy, Settings, Approval], None],
    reason: str,
) -> None:
    automatic, sibling = in_backoff
    revoke(queue, trust, settings, sibling)
    clock.advance(hours=2)  # past the backoff: the mail server is back

    await outbox.run_until_idle()

    back = queue.get(automatic.id)
    assert automatic.id not in executor.calls  # never run again
    assert (back.status, back.decision, back.decided_by) == (ApprovalStatus.PENDING, None, None)
    assert back.review_round == automatic.review_round + 1
    assert back.shown_hash != automatic.shown_hash
    said = reason.format(sibling=sibling.id)
    assert back.stale_reason == f"approved by rule but not run: {said}; re-queued for review"
    entries = AuditLog(engine).entries(approval_id=automatic.id, newest_first=False)
    assert (entries[-1].event, entries[-1].details["reason"]) == ("requeued", back.stale_reason)
    assert entries[-1].details["approved_by"] == f"autonomy:{PROJECTS}"
    assert AuditLog(engine).verify_chain().ok
    # what the human approved themselves still runs; the held one runs once they approve it
    assert len(queue.list([ApprovalStatus.EXECUTED])) == STREAK
    queue.approve(back.id, shown_hash=back.shown_hash, actor="cli:me")
    assert await outbox.run_until_idle() == 1 and executor.calls[-1] == automatic.id


@pytest.mark.parametrize("rule", ["warn", "block"])
async def test_an_automatic_approval_the_gate_now_finds_fault_with_goes_back_unrun(
    queue: ApprovalQueue,
    queue_for: Queue,
    settings: Settings,
    outbox: Outbox,
    executor: FlakyExecutor,
    rule: str,
) -> None:
    approve_clean(queue, queue_for, *[note(f"projects/{n}.md") for n in range(STREAK)])
    await outbox.run_until_idle()
    (automatic,) = queue_for(note())
    assert automatic.status == ApprovalStatus.APPROVED
    (settings.notes_dir / "projects" / "plan.md").parent.mkdir(parents=True, exist_ok=True)
    (settings.notes_dir / "projects" / "plan.md").write_text("written since\n")
    settings.policy.rules = {"note_exists": rule}

    assert await outbox.run_until_idle() == 0

    back = queue.get(automatic.id)
    assert automatic.id not in executor.calls
    assert back.decided_by is None
    if rule == "warn":
        assert back.status == ApprovalStatus.PENDING
        assert back.warnings and back.warnings[0].startswith("note_exists: ")
        assert back.stale_reason is not None and "the policy gate warns: note_exists: " in (
            back.stale_reason
        )
    else:
        assert back.status == ApprovalStatus.BLOCKED
        assert (back.block_reason or "").startswith("at execution: note_exists: ")


async def test_an_automatic_approval_whose_delivery_began_is_not_held_back(
    queue: ApprovalQueue,
    trust: Autonomy,
    outbox: Outbox,
    executor: FlakyExecutor,
    clock: FrozenClock,
    engine: Engine,
    in_backoff: tuple[Approval, Approval],
) -> None:
    automatic, _ = in_backoff
    DeliveryJournal(engine, clock).mark(automatic.idempotency_key or "", "sending")
    trust.switch(False, "cli:me")
    clock.advance(hours=2)

    await outbox.run_until_idle()

    assert executor.calls.count(automatic.id) == 1  # its executor decides what a repeat does
    assert queue.get(automatic.id).status == ApprovalStatus.EXECUTED


# ---- which kinds earn it ---------------------------------------------------------------------
def webhook_call(path: str = "deploy", **payload: object) -> DraftedAction:
    url = f"https://hooks.example.com/ambient/{path}"
    return DraftedAction("call_webhook", f"hook-{path}", {"url": url, "payload": payload}, "r")


def mcp_call(tool: str, text: str = "renewal") -> DraftedAction:
    args = {"server": "crm", "tool": tool, "arguments": {"text": text}}
    return DraftedAction("mcp_call", f"mcp-{tool}", args, "r")


def test_a_webhook_earns_autonomy_only_when_autonomy_kinds_names_it(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy, settings: Settings
) -> None:
    settings.policy.webhook_allowlist = ["https://hooks.example.com/ambient/"]
    endpoint = "call_webhook:https://hooks.example.com/ambient/deploy"
    approve_clean(queue, queue_for, *[webhook_call(build=n) for n in range(STREAK + 1)])
    (row,) = queue_for(webhook_call(build="injected"))
    assert row.status == ApprovalStatus.PENDING
    held = evidence(trust, endpoint)
    assert (held.level, held.streak, held.acting) == ("learning", STREAK + 1, False)
    assert held.note == "call_webhook earns autonomy only when autonomy.kinds names it"
    summary = trust.status().summary()
    assert all(kind in summary for kind in ("reply_email", "send_email", "write_note"))
    assert "call_webhook" not in summary

    settings.autonomy.kinds = ["call_webhook"]
    (automatic,) = queue_for(webhook_call(build="next"))
    assert automatic.decided_by == f"autonomy:{endpoint}"


def test_an_mcp_call_earns_autonomy_only_for_the_tools_its_server_lists_as_autonomous(
    queue: ApprovalQueue, queue_for: Queue, trust: Autonomy, settings: Settings
) -> None:
    settings.mcp = [
        McpServerSettings(
            name="crm", command="crm-server", drafts=["record", "tag"], autonomous=["tag"]
        )
    ]
    approve_clean(queue, queue_for, *[mcp_call("tag") for _ in range(STREAK)])
    (not_named,) = queue_for(mcp_call("tag"))
    assert not_named.status == ApprovalStatus.PENDING  # mcp_call is not in autonomy.kinds
    assert evidence(trust, "mcp_call:crm/tag").note == (
        "mcp_call earns autonomy only when autonomy.kinds names it"
    )

    settings.autonomy.kinds = ["mcp_call"]
    approve_clean(queue, queue_for, *[mcp_call("record") for _ in range(STREAK)])
    (record,) = queue_for(mcp_call("record", "anything at all"))
    assert record.status == ApprovalStatus.PENDING
    held = evidence(trust, "mcp_call:crm/record")
    assert (held.level, held.streak) == ("learning", STREAK)
    assert held.note == "'record' is not in autonomous of the MCP server 'crm'"
    (tag,) = queue_for(mcp_call("tag"))
    assert tag.decided_by == "autonomy:mcp_call:crm/tag"
