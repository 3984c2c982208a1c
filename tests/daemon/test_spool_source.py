"""The spool folder: .eml and .json items in, done/ and rejected/ out, through the daemon."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ambient.core.config import Secrets, Settings
from ambient.core.items import ItemState
from ambient.core.tables import Item
from ambient.daemon.service import Daemon
from ambient.runtime import Runtime
from ambient.sources.spool import SpoolSource, read_spool_item
from tests.daemon.mail import email_bytes
from tests.daemon.processors import AgentTestProcessor


@pytest.fixture
def runtime(settings: Settings, secrets: Secrets) -> Iterator[Runtime]:
    runtime = Runtime(settings, secrets)
    yield runtime
    runtime.close()


@pytest.fixture
def spool(runtime: Runtime) -> SpoolSource:
    return SpoolSource("drops", runtime.settings.spool_dir, runtime.clock)


def daemon_for(runtime: Runtime, spool: SpoolSource) -> Daemon:
    runtime.processor = AgentTestProcessor()
    runtime.sources = [spool]
    return runtime.daemon


def drop(folder: Path, name: str, content: bytes) -> None:
    """The way programs are told to do it: write aside, then rename in."""
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    staged = folder / "tmp" / name
    staged.write_bytes(content)
    os.rename(staged, folder / name)


def by_key(runtime: Runtime) -> dict[str, Item]:
    return {item.key: item for item in runtime.ledger.items(limit=100)}


async def test_an_eml_file_is_recorded_and_moved_to_done(
    runtime: Runtime, spool: SpoolSource
) -> None:
    raw = email_bytes("from a script", message_id="<script-1@x>")
    drop(spool.path, "0001-report.eml", raw)

    assert await daemon_for(runtime, spool).poll(spool) == 1

    item = by_key(runtime)["0001-report.eml"]
    assert (item.kind, item.subject, item.message_id) == ("email", "from a script", "<script-1@x>")
    assert runtime.ledger.content(item.id or 0) == raw
    assert os.listdir(spool.path / "done") == ["0001-report.eml"]
    assert not (spool.path / "0001-report.eml").exists()


async def test_json_items_of_any_kind_and_json_email(runtime: Runtime, spool: SpoolSource) -> None:
    note = {
        "kind": "alert",
        "subject": "Disk almost full",
        "body": "/var is at 93%",
        "sender": "monitoring@db1",
        "metadata": {"host": "db1"},
    }
    mail = {
        "kind": "email",
        "subject": "Invoice 42",
        "body": "Please find the invoice attached.",
        "sender": "Billing <billing@example.com>",
        "to": ["me@example.com"],
    }
    drop(spool.path, "a-alert.json", json.dumps(note).encode())
    drop(spool.path, "b-mail.json", json.dumps(mail).encode())

    assert await daemon_for(runtime, spool).poll(spool) == 2

    items = by_key(runtime)
    alert, email = items["a-alert.json"], items["b-mail.json"]
    assert (alert.kind, alert.subject, alert.sender) == (
        "alert",
        "Disk almost full",
        "monitoring@db1",
    )
    assert json.loads(alert.metadata_json)["host"] == "db1"
    assert read_spool_item(runtime.ledger.content(alert.id or 0)).body == "/var is at 93%"
    assert (email.kind, email.subject) == ("email", "Invoice 42")
    assert email.sender == "Billing <billing@example.com>"
    assert (email.message_id or "").endswith("@spool.ambient.invalid>")
    assert sorted(os.listdir(spool.path / "done")) == ["a-alert.json", "b-mail.json"]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("bad.json", b'{"subject": "no body", "colour": "red"}', "body: Field required"),
        ("broken.json", b"{not json", "invalid JSON item"),
        ("empty.eml", b"\n\n", "empty file"),
        ("notes.txt", b"Subject: hi\n\nbody\n", "unsupported file type '.txt'"),
    ],
)
async def test_a_bad_file_is_rejected_with_an_error_file_beside_it(
    runtime: Runtime, spool: SpoolSource, name: str, content: bytes, reason: str
) -> None:
    drop(spool.path, name, content)

    assert await daemon_for(runtime, spool).poll(spool) == 1

    assert sorted(os.listdir(spool.path / "rejected")) == [name, f"{name}.error.txt"]
    assert reason in (spool.path / "rejected" / f"{name}.error.txt").read_text()
    assert (spool.path / "rejected" / name).read_bytes() == content
    item = by_key(runtime)[name]
    assert item.state == ItemState.QUARANTINED and reason in (item.last_error or "")


async def test_dotfiles_temp_files_and_folders_are_left_alone(
    runtime: Runtime, spool: SpoolSource
) -> None:
    spool.path.mkdir(parents=True)
    for name in (".writing.eml", "upload.eml.part", "draft.tmp", "backup.eml~"):
        (spool.path / name).write_bytes(email_bytes())
    (spool.path / "a-folder.eml").mkdir()

    assert await daemon_for(runtime, spool).poll(spool) == 0
    assert sorted(os.listdir(spool.path)) == [
        ".writing.eml", "a-folder.eml", "backup.eml~", "done", "draft.tmp", "rejected", "tmp",
        "upload.eml.part",
    ]  # fmt: skip


async def test_a_file_recorded_before_a_crash_is_moved_without_being_added_twice(
    runtime: Runtime, spool: SpoolSource
) -> None:
    drop(spool.path, "once.eml", email_bytes("once", message_id="<once@x>"))
    items = await spool.poll(runtime.ledger.known_keys)
    runtime.ledger.ingest_many(items)  # ...and the daemon stops before acknowledging

    restarted = SpoolSource("drops", spool.path, runtime.clock)
    assert await restarted.poll(runtime.ledger.known_keys) == []
    assert os.listdir(spool.path / "done") == ["once.eml"]
    assert len(by_key(runtime)) == 1
