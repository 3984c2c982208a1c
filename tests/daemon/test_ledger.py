import os
from datetime import timedelta

from ambient.core.config import WorkerSettings
from ambient.core.items import InboundItem, ItemState
from ambient.core.leases import holder_name, this_machine
from ambient.core.ledger import Ledger
from ambient.sources.state import SourceStateStore
from tests.daemon.mail import email_bytes
from tests.daemon.process import dead_pid


def make_ledger(engine, clock, **overrides) -> Ledger:
    settings = WorkerSettings(lease_seconds=60, backoff_seconds=10, max_attempts=3, **overrides)
    return Ledger(engine, clock, settings)


def inbound(key: str = "k1", message_id: str | None = "<m1@example.com>", **kw) -> InboundItem:
    return InboundItem(source="inbox", key=key, raw=email_bytes(message_id=message_id), **kw)


def test_ingest_records_an_item_once_per_source_and_key(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    first = ledger.ingest(inbound())
    again = ledger.ingest(inbound())
    assert first.created and not again.created and first.item_id == again.item_id
    item = ledger.get(first.item_id)
    assert item.state == ItemState.NEW
    assert item.subject == "Hello" and item.message_id == "<m1@example.com>"
    assert len(item.trace_id or "") == 32
    assert ledger.content(first.item_id) == email_bytes()


def test_same_key_in_another_source_is_another_item(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    a = ledger.ingest(inbound(message_id=None))
    b = ledger.ingest(InboundItem(source="other", key="k1", raw=email_bytes(message_id=None)))
    assert a.item_id != b.item_id and b.created


def test_duplicate_message_id_under_new_key_is_recorded_not_processed(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    ledger.ingest(inbound("k1"))
    duplicate = ledger.ingest(inbound("k2"))
    assert duplicate.created and duplicate.state == ItemState.DONE
    assert "duplicate of item" in (ledger.get(duplicate.item_id).triage_json or "")


def test_unparseable_bytes_are_quarantined_with_bytes_kept(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    junk = bytes(range(256)) * 4
    result = ledger.ingest(InboundItem(source="inbox", key="junk", raw=junk))
    item = ledger.get(result.item_id)
    assert item.state == ItemState.QUARANTINED and "unparseable" in (item.last_error or "")
    assert ledger.content(result.item_id) == junk


def test_claim_leases_and_complete_moves_to_awaiting_approval(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    item_id = ledger.ingest(inbound()).item_id
    (claimed,) = ledger.claim("w1", 10)
    assert claimed.id == item_id and claimed.attempts == 1 and claimed.raw == email_bytes()
    assert ledger.get(item_id).state == ItemState.PROCESSING
    assert ledger.claim("w2", 10) == []
    assert ledger.complete(item_id, "w1", ItemState.AWAITING_APPROVAL, {"decision": "act"})
    assert ledger.get(item_id).state == ItemState.AWAITING_APPROVAL


def test_failure_backs_off_exponentially_then_quarantines(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    item_id = ledger.ingest(inbound()).item_id
    ledger.claim("w", 1)
    assert ledger.fail(item_id, "w", "model 500") == ItemState.FAILED
    assert ledger.get(item_id).next_attempt_at == clock.now() + timedelta(seconds=10)
    assert ledger.claim("w", 1) == []  # not due yet
    clock.advance(seconds=10)
    ledger.claim("w", 1)
    ledger.fail(item_id, "w", "model 500 again")
    assert ledger.get(item_id).next_attempt_at == clock.now() + timedelta(seconds=20)
    clock.advance(seconds=20)
    ledger.claim("w", 1)
    assert ledger.fail(item_id, "w", "model 500 third") == ItemState.QUARANTINED
    item = ledger.get(item_id)
    assert item.state == ItemState.QUARANTINED and item.last_error == "model 500 third"
    clock.advance(days=1)
    assert ledger.claim("w", 1) == []


def test_non_retryable_failure_quarantines_at_once(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    item_id = ledger.ingest(inbound()).item_id
    ledger.claim("w", 1)
    assert ledger.fail(item_id, "w", "bad", retryable=False) == ItemState.QUARANTINED


def test_expired_lease_returns_item_to_the_queue(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    item_id = ledger.ingest(inbound()).item_id
    ledger.claim("crashed-worker", 1)
    clock.advance(seconds=59)
    assert ledger.claim("w2", 1) == []
    clock.advance(seconds=2)
    (reclaimed,) = ledger.claim("w2", 1)
    assert reclaimed.id == item_id and reclaimed.attempts == 2
    # the crashed worker's late result is dropped: it no longer holds the lease
    assert not ledger.complete(item_id, "crashed-worker", ItemState.DONE)
    assert ledger.complete(item_id, "w2", ItemState.DONE)


def test_item_whose_lease_keeps_expiring_is_quarantined(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    item_id = ledger.ingest(inbound()).item_id
    for _ in range(3):
        assert ledger.claim("w", 1)
        clock.advance(seconds=61)
    assert ledger.claim("w", 1) == []
    assert ledger.get(item_id).state == ItemState.QUARANTINED


def test_release_returns_item_without_spending_an_attempt(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    item_id = ledger.ingest(inbound()).item_id
    ledger.claim("w", 1)
    assert ledger.release(item_id, "w")
    item = ledger.get(item_id)
    assert item.state == ItemState.NEW and item.attempts == 0


def test_user_retry_requeues_a_quarantined_item(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    item_id = ledger.ingest(inbound()).item_id
    ledger.claim("w", 1)
    ledger.fail(item_id, "w", "boom", retryable=False)
    ledger.retry(item_id)
    assert [c.id for c in ledger.claim("w", 1)] == [item_id]


def test_counts_per_state_and_source_and_poll_records(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    ledger.ingest(inbound("a", "<a@x>"))
    ledger.ingest(inbound("b", "<b@x>"))
    ledger.claim("w", 1)
    ledger.record_poll("inbox")
    counts = ledger.counts()
    assert counts.by_state["new"] == 1 and counts.by_state["processing"] == 1
    assert counts.by_source == {"inbox": {"new": 1, "processing": 1}}
    (state,) = ledger.source_states()
    assert state.last_poll_at == clock.now() and state.polls == 1
    assert ledger.known_keys("inbox", ["a", "b", "c"]) == {"a", "b"}


def test_recording_a_poll_keeps_the_cursor_the_source_saved(engine, clock) -> None:
    ledger, cursors = make_ledger(engine, clock), SourceStateStore(engine)
    cursors.save("inbox", {"mailboxes": {"INBOX": {"uidvalidity": 7, "last_uid": 42}}})

    ledger.record_poll("inbox", error="timed out")
    ledger.record_poll("inbox")

    assert cursors.mailbox_cursors("inbox")["INBOX"].last_uid == 42
    assert [state.polls for state in ledger.source_states()] == [2]


def test_message_ids_already_held_are_known_from_any_source(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    ledger.ingest(inbound("a", "<a@x>"))

    assert SourceStateStore(engine).known_message_ids(["<a@x>", "<b@x>"]) == {"<a@x>"}


def test_only_failed_or_quarantined_items_can_be_retried(engine, clock) -> None:
    import pytest

    from ambient.core.errors import DecisionError

    ledger = make_ledger(engine, clock)
    item_id = ledger.ingest(inbound()).item_id
    ledger.claim("w", 1)
    with pytest.raises(DecisionError, match="only failed or quarantined"):
        ledger.retry(item_id)  # processing: a retry would let two workers run it
    assert ledger.get(item_id).state == ItemState.PROCESSING


def test_lease_of_a_dead_process_on_this_host_is_reclaimed_at_once(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    host, gone = this_machine(), dead_pid()
    mine = ledger.ingest(inbound("k1", "<m1@example.com>")).item_id
    elsewhere = ledger.ingest(inbound("k2", "<m2@example.com>")).item_id
    running = ledger.ingest(inbound("k3", "<m3@example.com>")).item_id
    ledger.claim(f"{host}:{gone}:0123456789ab", 1)  # killed mid-item, on this host
    ledger.claim(f"other-{host}:{gone}:0123456789ab", 1)  # same PID, another machine
    ledger.claim(f"{host}:{os.getppid()}:0123456789ab", 1)  # a process that still runs
    assert ledger.reclaim_dead_leases() == [mine]
    (taken,) = ledger.claim("restarted", 10)  # no waiting for the 60 s lease
    assert taken.id == mine and taken.attempts == 2
    assert ledger.complete(mine, "restarted", ItemState.DONE)
    clock.advance(seconds=61)  # the other leases only end when they run out
    assert {item.id for item in ledger.claim("restarted", 10)} == {elsewhere, running}


def test_lease_of_an_earlier_process_with_this_pid_is_reclaimed(engine, clock) -> None:
    ledger = make_ledger(engine, clock)
    item_id = ledger.ingest(inbound()).item_id
    ledger.claim(f"{this_machine()}:{os.getpid()}:earlier00000", 1)  # container restart
    ledger.claim(holder_name(), 1)
    assert ledger.reclaim_dead_leases() == [item_id]
    assert [item.id for item in ledger.claim(holder_name(), 1)] == [item_id]
