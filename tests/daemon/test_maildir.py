import mailbox
import os
from pathlib import Path

import pytest

from ambient.core.config import WorkerSettings
from ambient.core.items import ItemState
from ambient.core.ledger import Ledger
from ambient.core.message import parse_message
from ambient.sources.maildir import MaildirSource, deliver
from tests.daemon.mail import email_bytes


@pytest.fixture
def ledger(engine, clock) -> Ledger:
    return Ledger(engine, clock, WorkerSettings())


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    path = tmp_path / "Maildir"
    mailbox.Maildir(path, create=True).close()
    return path


async def poll_into(ledger: Ledger, source: MaildirSource) -> list:
    items = await source.poll(ledger.known_keys)
    results = ledger.ingest_many(items)
    await source.acknowledge([item.key for item in items])
    return results


async def test_owned_inbox_moves_handled_mail_to_cur_after_the_ledger_has_it(ledger, maildir):
    key = deliver(maildir, email_bytes())
    source = MaildirSource("inbox", maildir, owned=True)
    (result,) = await poll_into(ledger, source)
    assert result.created and ledger.get(result.item_id).key == key
    assert os.listdir(maildir / "new") == []
    assert [name.split(":")[0] for name in os.listdir(maildir / "cur")] == [key]
    assert await poll_into(ledger, source) == []


async def test_users_own_maildir_is_never_changed(ledger, maildir):
    deliver(maildir, email_bytes())
    before = sorted(os.listdir(maildir / "new"))
    source = MaildirSource("mine", maildir, owned=False)
    assert len(await poll_into(ledger, source)) == 1
    assert sorted(os.listdir(maildir / "new")) == before and os.listdir(maildir / "cur") == []
    assert await source.poll(ledger.known_keys) == []  # the ledger knows it: not re-read


async def test_crash_before_acknowledge_neither_loses_nor_duplicates(ledger, maildir):
    deliver(maildir, email_bytes())
    source = MaildirSource("inbox", maildir, owned=True)
    ledger.ingest_many(await source.poll(ledger.known_keys))  # crash: no acknowledge
    assert await source.poll(ledger.known_keys) == []  # known: moved to cur/ instead
    assert len(os.listdir(maildir / "cur")) == 1 and ledger.counts().by_state["new"] == 1


@pytest.mark.parametrize(
    ("raw", "state", "error"),
    [
        (b"", ItemState.QUARANTINED, "empty file"),
        (os.urandom(4096).replace(b":", b"-"), ItemState.QUARANTINED, "unparseable"),
        (b"\x00\x01\x02garbage without headers", ItemState.QUARANTINED, "unparseable"),
    ],
    ids=["empty", "binary-junk", "no-headers"],
)
async def test_bad_files_become_quarantined_items_with_bytes_kept(
    ledger, maildir, raw, state, error
):
    deliver(maildir, raw)
    (result,) = await poll_into(ledger, MaildirSource("inbox", maildir, owned=True))
    item = ledger.get(result.item_id)
    assert item.state == state and error in (item.last_error or "")
    assert ledger.content(result.item_id) == raw


async def test_eight_bit_headers_and_missing_message_id_are_processed(ledger, maildir):
    raw = (
        "From: Jörg Müller <jorg@example.de>\r\nSubject: Grüße aus Köln\r\n\r\nHallo Welt\r\n"
    ).encode() + b"\xff\xfe broken tail\r\n"
    deliver(maildir, raw)
    (result,) = await poll_into(ledger, MaildirSource("inbox", maildir, owned=True))
    item = ledger.get(result.item_id)
    assert item.state == ItemState.NEW and item.message_id is None
    assert "Grüße" in item.subject and "Jörg" in item.sender
    assert "Hallo Welt" in parse_message(ledger.content(result.item_id)).text


async def test_duplicate_message_id_is_recorded_once_for_processing(ledger, maildir):
    deliver(maildir, email_bytes(message_id="<same@x>"))
    deliver(maildir, email_bytes(message_id="<same@x>"))
    results = await poll_into(ledger, MaildirSource("inbox", maildir, owned=True))
    assert sorted(r.state for r in results) == [ItemState.DONE, ItemState.NEW]


async def test_twenty_megabyte_message_is_kept_whole(ledger, maildir):
    body = ("x" * 76 + "\r\n") * (20 * 1024 * 1024 // 78)
    raw = email_bytes(body=body)
    assert len(raw) > 20_000_000
    deliver(maildir, raw)
    (result,) = await poll_into(ledger, MaildirSource("inbox", maildir, owned=True))
    assert ledger.get(result.item_id).state == ItemState.NEW
    assert len(ledger.content(result.item_id)) == len(raw)


async def test_missing_maildir_is_a_source_error(ledger, tmp_path):
    from ambient.core.errors import SourceError

    with pytest.raises(SourceError, match="does not exist"):
        await MaildirSource("gone", tmp_path / "nope", owned=True).poll(ledger.known_keys)
