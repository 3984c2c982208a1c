"""The outbox: approved -> executing -> executed | failed (backoff) -> dead, exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from ambient.approvals.audit import AuditLog
from ambient.approvals.drafts import DraftedAction
from ambient.approvals.kinds.call_webhook import WebhookExecutor
from ambient.approvals.kinds.write_note import NotesExecutor
from ambient.approvals.outbox import Outbox, reclaim_dead_leases
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import Secrets, Settings
from ambient.core.items import ItemState
from ambient.core.leases import holder_name, this_machine
from ambient.core.ledger import Ledger
from tests.approvals.conftest import AddItem, context_for
from tests.approvals.webhook_receiver import WebhookReceiver, webhook_receiver  # noqa: F401
from tests.conftest import FrozenClock
from tests.daemon.process import dead_pid


@pytest.fixture
def configured(settings: Settings, webhook_receiver: WebhookReceiver) -> Settings:  # noqa: F811
    settings.policy.webhook_allowlist = [f"{webhook_receiver.url}/hooks/"]
    settings.outbox.backoff_seconds = 10
    settings.outbox.max_attempts = 3
    settings.outbox.webhook_timeout_seconds = 0.5
    return settings


@pytest.fixture
def approvals(engine: Engine, clock: FrozenClock, configured: Settings) -> ApprovalQueue:
    return ApprovalQueue(engine, clock, configured, PolicyGate.from_settings(configured))


def make_outbox(
    engine: Engine, clock: FrozenClock, settings: Settings, secrets: Secrets, owner: str = "test"
) -> Outbox:
    executors: dict[str, Any] = {
        "write_note": NotesExecutor(settings.notes_dir, settings.data_dir / "outbox" / "notes"),
        "call_webhook": WebhookExecutor(settings.outbox.webhook_timeout_seconds),
    }
    policy = PolicyGate.from_settings(settings)
    return Outbox(engine, clock, settings, secrets, policy, executors, owner=owner)


@pytest.fixture
def outbox(engine: Engine, clock: FrozenClock, configured: Settings, secrets: Secrets) -> Outbox:
    return make_outbox(engine, clock, configured, secrets)


@pytest.fixture
def approve(approvals: ApprovalQueue, ledger: Ledger, add_item: AddItem):
    def queue_and_approve(kind: str, args: dict[str, Any]) -> Approval:
        item_id = add_item()
        (row,) = approvals.queue_drafts(
            context=context_for(ledger, item_id),
            trace_id="2" * 32,
            run_state=None,
            drafts=[DraftedAction(kind, "call-1", args, "because")],
        )
        return approvals.approve(row.id, shown_hash=row.shown_hash, actor="me")

    return queue_and_approve


def webhook(receiver: WebhookReceiver, **payload: Any) -> dict[str, Any]:
    return {"url": f"{receiver.url}/hooks/ticket", "payload": payload or {"title": "Lunch"}}


async def test_an_approved_note_is_written_atomically_and_the_item_finishes(
    approve, outbox: Outbox, approvals: ApprovalQueue, ledger: Ledger, configured: Settings
):
    row = approve("write_note", {"path": "lunch/friday.md", "content": "# Lunch\nFriday noon"})
    assert await outbox.tick() == 1
    done = approvals.get(row.id)
    assert done.status == ApprovalStatus.EXECUTED and done.executed_at is not None
    assert (configured.notes_dir / "lunch" / "friday.md").read_text() == "# Lunch\nFriday noon"
    assert [p.name for p in (configured.notes_dir / "lunch").iterdir()] == ["friday.md"]
    assert done.result and done.result["summary"] == "wrote note lunch/friday.md (19 bytes)"
    assert ledger.get(row.item_id).state == ItemState.DONE
    assert await outbox.tick() == 0  # never twice


async def test_a_crash_after_the_note_was_written_does_not_write_it_again(
    approve,
    outbox: Outbox,
    approvals: ApprovalQueue,
    engine: Engine,
    configured: Settings,
    clock: FrozenClock,
):
    row = approve("write_note", {"path": "todo.md", "content": "from ambient"})
    await outbox.tick()
    # as if the process died after writing but before recording "executed"
    _back_to_executing(engine, row.id, clock)
    (configured.notes_dir / "todo.md").write_text("the user's own edit since")
    clock.advance(seconds=configured.outbox.lease_seconds + 1)
    assert await outbox.tick() == 1
    assert (configured.notes_dir / "todo.md").read_text() == "the user's own edit since"
    assert approvals.get(row.id).result["summary"] == "note todo.md already written"


def _back_to_executing(engine: Engine, approval_id: int, clock: FrozenClock) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE approval SET status = 'executing', lease_owner = 'crashed', "
                "lease_expires_at = :at, executed_at = NULL WHERE id = :id"
            ),
            {"id": approval_id, "at": clock.now().replace(tzinfo=None)},
        )


async def test_a_webhook_carries_the_idempotency_key_and_the_approved_payload(
    approve,
    outbox: Outbox,
    approvals: ApprovalQueue,
    webhook_receiver: WebhookReceiver,  # noqa: F811
):
    row = approve("call_webhook", webhook(webhook_receiver, title="Lunch", when="Friday"))
    assert await outbox.tick() == 1
    (request,) = webhook_receiver.requests
    assert request.path == "/hooks/ticket"
    assert request.payload == {"title": "Lunch", "when": "Friday"}
    assert request.headers["idempotency-key"] == row.idempotency_key
    assert approvals.get(row.id).result["status"] == 200


async def test_a_failing_webhook_is_retried_with_backoff_and_the_same_key(
    approve,
    outbox: Outbox,
    approvals: ApprovalQueue,
    webhook_receiver: WebhookReceiver,  # noqa: F811
    clock: FrozenClock,
):
    webhook_receiver.answers = [(503, {}), (200, {})]
    row = approve("call_webhook", webhook(webhook_receiver))
    assert await outbox.tick() == 0
    failed = approvals.get(row.id)
    assert failed.status == ApprovalStatus.FAILED and "503" in (failed.last_error or "")
    assert failed.next_attempt_at is not None
    assert (failed.next_attempt_at - clock.now()).total_seconds() == 10
    assert await outbox.tick() == 0  # not due yet
    clock.advance(seconds=10)
    assert await outbox.tick() == 1
    keys = {request.headers["idempotency-key"] for request in webhook_receiver.requests}
    assert keys == {row.idempotency_key} and len(webhook_receiver.requests) == 2
    assert approvals.get(row.id).attempts == 2


async def test_after_the_last_try_the_action_is_dead_with_the_error(
    approve,
    outbox: Outbox,
    approvals: ApprovalQueue,
    webhook_receiver: WebhookReceiver,  # noqa: F811
    clock: FrozenClock,
    ledger: Ledger,
):
    webhook_receiver.answers = [(500, {})] * 5
    row = approve("call_webhook", webhook(webhook_receiver))
    for _ in range(5):
        await outbox.tick()
        clock.advance(hours=1)
    dead = approvals.get(row.id)
    assert dead.status == ApprovalStatus.DEAD and dead.attempts == 3
    assert len(webhook_receiver.requests) == 3
    assert ledger.get(row.item_id).state == ItemState.DONE
    events = [
        e.event for e in AuditLog(approvals.engine).entries(approval_id=row.id, newest_first=False)
    ]
    assert events[-2:] == ["executing", "dead"] and events.count("failed") == 2


async def test_a_client_error_is_final_at_once_and_redirects_are_not_followed(
    approve,
    outbox: Outbox,
    approvals: ApprovalQueue,
    webhook_receiver: WebhookReceiver,  # noqa: F811
):
    webhook_receiver.answers = [(302, {"Location": "https://attacker.example/steal"})]
    row = approve("call_webhook", webhook(webhook_receiver))
    await outbox.tick()
    dead = approvals.get(row.id)
    assert dead.status == ApprovalStatus.DEAD and "answered 302" in (dead.last_error or "")
    assert len(webhook_receiver.requests) == 1


async def test_a_webhook_that_hangs_times_out_and_is_retried(
    approve,
    outbox: Outbox,
    approvals: ApprovalQueue,
    webhook_receiver: WebhookReceiver,  # noqa: F811
):
    webhook_receiver.hang_seconds = 5
    row = approve("call_webhook", webhook(webhook_receiver))
    await outbox.tick()
    failed = approvals.get(row.id)
    assert failed.status == ApprovalStatus.FAILED and "timed out" in (failed.last_error or "")


async def test_the_gate_checks_again_right_before_running(
    approve,
    engine: Engine,
    clock: FrozenClock,
    configured: Settings,
    secrets: Secrets,
    approvals: ApprovalQueue,
    webhook_receiver: WebhookReceiver,  # noqa: F811
):
    row = approve("call_webhook", webhook(webhook_receiver))
    configured.policy.webhook_allowlist = []  # the user tightened the policy meanwhile
    outbox = make_outbox(engine, clock, configured, secrets)
    assert await outbox.tick() == 0
    blocked = approvals.get(row.id)
    assert blocked.status == ApprovalStatus.BLOCKED
    assert (blocked.block_reason or "").startswith("at execution: webhook_not_allowed")
    assert blocked.shown_hash != row.shown_hash  # back to the human, who must look again
    assert webhook_receiver.requests == []


async def test_an_action_left_executing_by_a_dead_process_is_run_after_its_lease(
    approve,
    engine: Engine,
    clock: FrozenClock,
    configured: Settings,
    secrets: Secrets,
    approvals: ApprovalQueue,
    webhook_receiver: WebhookReceiver,  # noqa: F811
):
    row = approve("call_webhook", webhook(webhook_receiver))
    crashed = make_outbox(engine, clock, configured, secrets, owner="crashed")
    assert [r.id for r in crashed.claim()] == [row.id]  # claimed, then the process died
    survivor = make_outbox(engine, clock, configured, secrets, owner="survivor")
    assert await survivor.tick() == 0  # the lease still holds
    clock.advance(seconds=configured.outbox.lease_seconds + 1)
    assert await survivor.tick() == 1
    assert len(webhook_receiver.requests) == 1
    entries = AuditLog(engine).entries(approval_id=row.id, newest_first=False)
    assert [e.details.get("recovered") for e in entries if e.event == "executing"] == [False, True]


async def test_an_action_leased_by_a_dead_process_on_this_host_runs_at_once_on_restart(
    approve,
    engine: Engine,
    clock: FrozenClock,
    configured: Settings,
    secrets: Secrets,
    webhook_receiver: WebhookReceiver,  # noqa: F811
):
    host, gone = this_machine(), dead_pid()
    mine = approve("call_webhook", webhook(webhook_receiver, title="mine"))
    elsewhere = approve("call_webhook", webhook(webhook_receiver, title="elsewhere"))
    crashed = make_outbox(engine, clock, configured, secrets, owner=f"{host}:{gone}:0a1b:outbox")
    assert [r.id for r in crashed.claim(1)] == [mine.id]
    remote = f"other-{host}:{gone}:0a1b:outbox"  # the same PID on another machine
    assert [r.id for r in make_outbox(engine, clock, configured, secrets, remote).claim(1)] == [
        elsewhere.id
    ]
    assert reclaim_dead_leases(engine, clock) == [mine.id]
    survivor = make_outbox(engine, clock, configured, secrets, owner=holder_name("outbox"))
    assert await survivor.tick() == 1  # no waiting for outbox.lease_seconds
    assert [r.payload["title"] for r in webhook_receiver.requests] == ["mine"]
    clock.advance(seconds=configured.outbox.lease_seconds + 1)
    assert await survivor.tick() == 1  # another host's lease only ends when it runs out
    assert [r.payload["title"] for r in webhook_receiver.requests] == ["mine", "elsewhere"]


async def test_a_process_that_lost_its_lease_does_not_record_an_outcome(
    approve,
    engine: Engine,
    clock: FrozenClock,
    configured: Settings,
    secrets: Secrets,
    approvals: ApprovalQueue,
):
    row = approve("write_note", {"path": "a.md", "content": "a"})
    slow = make_outbox(engine, clock, configured, secrets, owner="slow")
    (claimed,) = slow.claim()
    clock.advance(seconds=configured.outbox.lease_seconds + 1)
    fast = make_outbox(engine, clock, configured, secrets, owner="fast")
    assert await fast.tick() == 1
    assert await slow.run(claimed) is False  # its result is dropped, the row stays executed once
    assert approvals.get(row.id).status == ApprovalStatus.EXECUTED


async def test_kinds_without_an_executor_wait_and_run_until_idle_stops(
    approvals: ApprovalQueue,
    outbox: Outbox,
    ledger: Ledger,
    add_item: AddItem,
):
    item_id = add_item()
    args = {"file": "triage.md", "diff": "", "base_sha256": "0" * 64, "reason": "learned"}
    (row,) = approvals.queue_drafts(
        context=context_for(ledger, item_id),
        trace_id="3" * 32,
        run_state=None,
        drafts=[DraftedAction("memory_update", "m1", args, "learned")],
    )
    approvals.approve(row.id, shown_hash=row.shown_hash, actor="me")
    assert await outbox.run_until_idle() == 0
    assert approvals.get(row.id).status == ApprovalStatus.APPROVED


async def test_an_item_decided_before_the_worker_finished_it_is_settled_later(
    approve,
    outbox: Outbox,
    approvals: ApprovalQueue,
    ledger: Ledger,
    engine: Engine,
):
    row = approve("write_note", {"path": "b.md", "content": "b"})
    await outbox.tick()
    with engine.begin() as connection:  # the worker's late "awaiting approval"
        connection.execute(
            text("UPDATE item SET state = 'awaiting_approval' WHERE id = :id"), {"id": row.item_id}
        )
    assert outbox.settle_items() == 1
    assert ledger.get(row.item_id).state == ItemState.DONE


def test_note_marker_folder_is_outside_the_notes(configured: Settings, tmp_path: Path):
    executor = NotesExecutor(configured.notes_dir, configured.data_dir / "outbox" / "notes")
    assert not executor.markers_dir.is_relative_to(configured.notes_dir)


async def test_an_action_whose_process_keeps_dying_goes_dead_for_the_human(
    approve,
    engine: Engine,
    clock: FrozenClock,
    configured: Settings,
    secrets: Secrets,
    approvals: ApprovalQueue,
):
    row = approve("write_note", {"path": "c.md", "content": "c"})
    for attempt in range(configured.outbox.max_attempts):
        crashing = make_outbox(engine, clock, configured, secrets, owner=f"crash-{attempt}")
        assert [r.id for r in crashing.claim()] == [row.id]
        clock.advance(seconds=configured.outbox.lease_seconds + 1)
    survivor = make_outbox(engine, clock, configured, secrets, owner="survivor")
    assert await survivor.tick() == 0
    dead = approvals.get(row.id)
    assert dead.status == ApprovalStatus.DEAD
    assert "ambient stopped 3 times while running it" in (dead.last_error or "")
    assert not (configured.notes_dir / "c.md").exists()
