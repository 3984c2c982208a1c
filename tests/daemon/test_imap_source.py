"""The IMAP source against a real Dovecot: errors per account, what is read, cursors, flags."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ambient.core.config import Secrets, Settings, load_settings
from ambient.core.errors import SourceError
from ambient.core.items import ItemState
from ambient.core.tables import Item
from ambient.daemon.service import Daemon
from ambient.runtime import Runtime
from ambient.sources.imap import ImapSource
from ambient.sources.spool import SpoolSource
from ambient.sources.state import SourceStateStore
from tests.conftest import FrozenClock
from tests.daemon.mail import email_bytes
from tests.daemon.processors import AgentTestProcessor
from tests.servers.dovecot import DovecotServer, ImapAccount
from tests.servers.ports import free_port


@pytest.fixture
def runtime(settings: Settings, secrets: Secrets) -> Iterator[Runtime]:
    runtime = Runtime(settings, secrets, FrozenClock(datetime.now(UTC)))
    yield runtime
    runtime.close()


def make_source(
    runtime: Runtime, account: ImapAccount, password: str | None = "", **overrides: object
) -> ImapSource:
    settings = account.settings(**overrides)
    secret = account.password if password == "" else password
    return ImapSource(settings, secret, SourceStateStore(runtime.engine), runtime.clock)


def daemon_for(runtime: Runtime, *sources: ImapSource) -> Daemon:
    """A daemon on the test processor polling `sources` (once built, the runtime keeps it)."""
    runtime.processor = AgentTestProcessor()
    runtime.sources = list(sources)
    return runtime.daemon


def ledger_items(runtime: Runtime) -> list[Item]:
    return sorted(runtime.ledger.items(limit=5000), key=lambda item: item.id or 0)


def server_flags(account: ImapAccount, mailbox: str = "INBOX") -> dict[int, set[bytes]]:
    client = account.client()
    try:
        client.select_folder(mailbox, readonly=True)
        flags = client.fetch(client.search(["ALL"]), ["FLAGS"])
        return {uid: set(parts[b"FLAGS"]) - {b"\\Recent"} for uid, parts in flags.items()}
    finally:
        client.logout()


async def test_wrong_password_is_a_clear_error_for_that_account_while_others_work(
    runtime: Runtime, imap_account: ImapAccount
) -> None:
    imap_account.append(email_bytes("hello"))
    good = make_source(runtime, imap_account)
    bad = make_source(runtime, imap_account, password="not-the-password", name="other")
    daemon = daemon_for(runtime, good, bad)

    assert await daemon.poll_all() == 1

    states = {state.name: state for state in runtime.ledger.source_states()}
    error = states["other"].last_error or ""
    assert "imap other" in error and "login failed" in error and imap_account.username in error
    assert "AUTHENTICATIONFAILED" in error and "not-the-password" not in error
    assert states["work"].last_error is None
    await daemon.shutdown()


async def test_unreachable_host_and_unset_password_say_so_for_the_account(
    runtime: Runtime, imap_account: ImapAccount
) -> None:
    closed = make_source(runtime, imap_account, port=free_port())
    with pytest.raises(SourceError, match=r"imap work .*connection refused"):
        await closed.poll(runtime.ledger.known_keys)
    unset = make_source(runtime, imap_account, password=None)
    with pytest.raises(SourceError, match="TEST_IMAP_PASSWORD holding the password is not set"):
        await unset.poll(runtime.ledger.known_keys)


async def test_an_untrusted_certificate_is_reported_and_ca_file_fixes_it(
    runtime: Runtime, imap_account: ImapAccount, dovecot: DovecotServer
) -> None:
    imap_account.append(email_bytes("over tls"))
    untrusted = make_source(runtime, imap_account, security="tls", port=dovecot.tls_port)
    with pytest.raises(SourceError, match="TLS certificate is not trusted.*set ca_file"):
        await untrusted.poll(runtime.ledger.known_keys)

    tls = make_source(
        runtime, imap_account, security="tls", port=dovecot.tls_port, ca_file=dovecot.ca_file
    )
    assert len(await tls.poll(runtime.ledger.known_keys)) == 1
    starttls = make_source(
        runtime, imap_account, name="starttls", security="starttls", ca_file=dovecot.ca_file
    )
    assert len(await starttls.poll(runtime.ledger.known_keys)) == 1
    await tls.close()
    await starttls.close()


async def test_first_contact_reads_unseen_mail_without_marking_it_read(
    runtime: Runtime, imap_account: ImapAccount
) -> None:
    imap_account.append(email_bytes("old, read", message_id="<r1@x>"), flags=(b"\\Seen",))
    imap_account.append(email_bytes("unread one", message_id="<u1@x>"))
    imap_account.append(email_bytes("old, read too", message_id="<r2@x>"), flags=(b"\\Seen",))
    imap_account.append(email_bytes("unread two", message_id="<u2@x>"))
    source = make_source(runtime, imap_account)

    items = await source.poll(runtime.ledger.known_keys)

    assert [item.message_id for item in items] == ["<u1@x>", "<u2@x>"]
    uidvalidity = items[0].metadata["uidvalidity"]
    assert [item.key for item in items] == [
        f"work/INBOX/{uidvalidity}/2",
        f"work/INBOX/{uidvalidity}/4",
    ]
    assert server_flags(imap_account) == {1: {b"\\Seen"}, 2: set(), 3: {b"\\Seen"}, 4: set()}
    await source.close()


async def test_later_polls_fetch_only_new_uids_and_a_restart_resumes_from_the_cursor(
    runtime: Runtime, imap_account: ImapAccount
) -> None:
    imap_account.append(email_bytes("first", message_id="<f1@x>"))
    source = make_source(runtime, imap_account)
    daemon = daemon_for(runtime, source)
    assert await daemon.poll(source) == 1
    # read on the phone before ambient polled again: still new mail to ambient
    imap_account.append(email_bytes("second", message_id="<f2@x>"), flags=(b"\\Seen",))
    assert await daemon.poll(source) == 1
    assert await daemon.poll(source) == 0
    await source.close()

    restarted = make_source(runtime, imap_account)
    assert await restarted.poll(runtime.ledger.known_keys) == []
    imap_account.append(email_bytes("third", message_id="<f3@x>"))
    fresh = await restarted.poll(runtime.ledger.known_keys)
    assert [item.message_id for item in fresh] == ["<f3@x>"]
    cursor = SourceStateStore(runtime.engine).mailbox_cursors("work")["INBOX"]
    assert cursor.last_uid == 2  # moves only once the ledger has recorded the batch
    await restarted.acknowledge([item.key for item in fresh])
    assert SourceStateStore(runtime.engine).mailbox_cursors("work")["INBOX"].last_uid == 3
    await restarted.close()


async def test_keyword_and_seen_flag_are_added_only_when_configured(
    runtime: Runtime, imap_account: ImapAccount
) -> None:
    imap_account.append(email_bytes("one", message_id="<k1@x>"))
    plain = make_source(runtime, imap_account)
    await daemon_for(runtime, plain).poll(plain)
    assert server_flags(imap_account) == {1: set()}

    imap_account.append(email_bytes("two", message_id="<k2@x>"))
    flagging = make_source(
        runtime, imap_account, name="flagging", processed_keyword="$Ambient", mark_seen=True
    )
    daemon = daemon_for(runtime, flagging)
    assert await daemon.poll(flagging) == 2  # a new source name: both are new to it
    assert server_flags(imap_account) == {
        1: {b"\\Seen", b"$Ambient"},
        2: {b"\\Seen", b"$Ambient"},
    }
    await plain.close()
    await flagging.close()


EIGHT_BIT = (
    "From: Zoë Ünal <zoe@example.com>\r\nTo: me@example.com\r\nSubject: Grüße aus Köln\r\n"
    "Message-ID: <8bit@x>\r\n\r\nÄpfel und Birnen – 10 €\r\n"
).encode() + b"latin-1 line: caf\xe9\r\n"
BROKEN_MIME = (
    b"From: a@example.com\r\nSubject: broken mime\r\nMessage-ID: <broken@x>\r\n"
    b"Content-Type: multipart/mixed\r\n\r\nno boundary anywhere\r\n"
)
NOT_EMAIL = b"\xff\xfe this is not an email at all\r\n\x01\x02 binary junk\r\n"


async def test_eight_bit_and_malformed_messages_are_kept_byte_for_byte(
    runtime: Runtime, imap_account: ImapAccount
) -> None:
    for raw in (EIGHT_BIT, BROKEN_MIME, NOT_EMAIL):
        imap_account.append(raw)
    source = make_source(runtime, imap_account)
    assert await daemon_for(runtime, source).poll(source) == 3

    eight_bit, broken, junk = ledger_items(runtime)
    assert runtime.ledger.content(eight_bit.id or 0) == EIGHT_BIT
    assert eight_bit.subject == "Grüße aus Köln" and eight_bit.state == ItemState.NEW
    assert broken.message_id == "<broken@x>" and broken.state == ItemState.NEW
    assert runtime.ledger.content(junk.id or 0) == NOT_EMAIL
    assert junk.state == ItemState.QUARANTINED and "unparseable" in (junk.last_error or "")
    await source.close()


async def test_uidvalidity_change_reads_only_mail_the_ledger_does_not_have(
    runtime: Runtime, imap_account: ImapAccount
) -> None:
    # ambient's clock and the arrival dates below are one fixed day, whatever the server's date
    assert isinstance(runtime.clock, FrozenClock)
    runtime.clock.current = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    helper = imap_account.client()
    helper.create_folder("Projects")
    for number in (1, 2):
        helper.append("Projects", email_bytes(f"known {number}", message_id=f"<known{number}@x>"))
    source = make_source(runtime, imap_account, mailboxes=["Projects"])
    daemon = daemon_for(runtime, source)
    assert await daemon.poll(source) == 2
    before = SourceStateStore(runtime.engine).mailbox_cursors("work")["Projects"]

    # the mailbox is deleted and recreated (a restore, a server move): every UID is new
    helper.delete_folder("Projects")
    helper.create_folder("Projects")
    for number in (1, 2):  # the same mail again, meanwhile read by the user
        raw = email_bytes(f"known {number}", message_id=f"<known{number}@x>")
        helper.append("Projects", raw, flags=(b"\\Seen",))
    helper.append("Projects", email_bytes("new, unread", message_id="<new-unread@x>"))
    # arrival dates on ambient's clock (the one its cursor records), not the server's
    now = runtime.clock.now()
    helper.append(
        "Projects",
        email_bytes("new, read", message_id="<new-read@x>"),
        flags=(b"\\Seen",),
        msg_time=now,
    )
    old = now - timedelta(days=30)
    helper.append(
        "Projects",
        email_bytes("old, read, never taken", message_id="<old@x>"),
        flags=(b"\\Seen",),
        msg_time=old,
    )
    helper.logout()

    assert await daemon.poll(source) == 2
    after = SourceStateStore(runtime.engine).mailbox_cursors("work")["Projects"]
    assert after.uidvalidity != before.uidvalidity and after.last_uid == 5
    assert [item.message_id for item in ledger_items(runtime)] == [
        "<known1@x>", "<known2@x>", "<new-unread@x>", "<new-read@x>",
    ]  # fmt: skip
    assert {item.key.split("/")[2] for item in ledger_items(runtime)[2:]} == {
        str(after.uidvalidity)
    }
    assert await daemon.poll(source) == 0
    await source.close()


async def test_one_missing_mailbox_does_not_hold_back_the_others(
    runtime: Runtime, imap_account: ImapAccount
) -> None:
    imap_account.append(email_bytes("inbox mail"))
    source = make_source(runtime, imap_account, mailboxes=["INBOX", "Nowhere"])
    daemon = daemon_for(runtime, source)
    assert await daemon.poll(source) == 1
    state = {state.name: state for state in runtime.ledger.source_states()}["work"]
    assert "Nowhere" in (state.last_error or "") and "imap work" in (state.last_error or "")
    await source.close()


@pytest.mark.slow
async def test_a_thousand_messages_arrive_in_batches(
    runtime: Runtime, imap_account: ImapAccount
) -> None:
    helper = imap_account.client()
    for start in range(0, 1000, 250):
        batch = [
            email_bytes(f"bulk {n}", message_id=f"<bulk{n}@x>", body=f"message {n} " * 40)
            for n in range(start, start + 250)
        ]
        helper.multiappend("INBOX", batch)
    helper.logout()
    source = make_source(runtime, imap_account)
    fetches: list[int] = []
    original = source.poll

    async def counting_poll(known):  # type: ignore[no-untyped-def]
        items = await original(known)
        fetches.append(len(items))
        return items

    source.poll = counting_poll  # type: ignore[method-assign]
    started = time.perf_counter()
    assert await daemon_for(runtime, source).poll(source) == 1000
    elapsed = time.perf_counter() - started

    print(f"\n1,000 IMAP messages to the ledger in {elapsed:.2f} s, batches {fetches}")
    assert fetches[:5] == [200] * 5 and sum(fetches) == 1000
    assert runtime.ledger.counts().by_state["new"] == 1000
    assert elapsed < 30
    await source.close()


def test_configured_imap_and_spool_sources_are_built(
    ambient_home, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ambient_home / "ambient.toml").write_text(
        '[[sources]]\ntype = "imap"\nname = "work"\nhost = "127.0.0.1"\nusername = "me"\n'
        'password_env = "WORK_IMAP_PASSWORD"\nmailboxes = ["INBOX", "Lists"]\n'
        'processed_keyword = "$Ambient"\n\n[[sources]]\ntype = "spool"\nname = "drops"\n'
    )
    monkeypatch.setenv("WORK_IMAP_PASSWORD", "s3cret")
    settings, secrets = load_settings()
    runtime = Runtime(settings, secrets)
    try:
        imap, spool = runtime.sources
        assert isinstance(imap, ImapSource) and imap.settings.mailboxes == ["INBOX", "Lists"]
        assert "s3cret" not in repr(imap)
        assert isinstance(spool, SpoolSource) and spool.path == settings.spool_dir
    finally:
        runtime.close()


def test_a_processed_keyword_must_be_an_imap_keyword(imap_account: ImapAccount) -> None:
    with pytest.raises(ValidationError, match="processed_keyword"):
        imap_account.settings(processed_keyword="two words")
