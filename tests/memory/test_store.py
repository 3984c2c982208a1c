"""The memory folder: seeded once, read fresh on change, problems reported and skipped."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from ambient.core.config import Settings
from ambient.memory.history import MemoryHistory
from ambient.memory.store import TEMPLATE_NAMES, MemoryStore


def test_seed_creates_the_templates_and_a_history_once(settings: Settings) -> None:
    store = MemoryStore(settings.memory_dir)

    created = store.seed()

    folder = settings.memory_dir
    assert {path.name for path in created} >= {*TEMPLATE_NAMES, ".git"}
    for name in TEMPLATE_NAMES:
        text = (folder / name).read_text("utf-8")
        assert text.startswith("# ") and "What this file is for" in text
    assert [commit.subject for commit in MemoryHistory(folder).log()] == [
        "memory: start the history of this folder"
    ]
    assert store.seed() == []  # idempotent
    assert len(MemoryHistory(folder).log()) == 1


def test_seed_never_overwrites_a_users_file(settings: Settings) -> None:
    folder = settings.memory_dir
    folder.mkdir(parents=True)
    (folder / "profile.md").write_text("# Me\nmine\n", encoding="utf-8")

    created = MemoryStore(folder).seed()

    assert folder / "profile.md" not in created
    assert (folder / "profile.md").read_text("utf-8") == "# Me\nmine\n"
    (folder / "contacts.md").unlink()
    assert MemoryStore(folder).seed() == [folder / "contacts.md"]  # only the missing one
    assert (folder / "profile.md").read_text("utf-8") == "# Me\nmine\n"
    history = MemoryHistory(folder)
    assert not history.has_changes()  # the restored template is the committed one


def test_an_edit_is_seen_by_the_next_read_without_a_restart(store: MemoryStore) -> None:
    path = store.folder / "contacts.md"
    first = store.read("contacts.md")

    path.write_text(first.replace("Alex Kim", "Alex Lee"), encoding="utf-8")  # same size

    assert "Alex Lee" in store.read("contacts.md")
    assert "Alex Lee" in store.prompt_context(4_000)


def test_an_unchanged_file_is_served_from_the_cache(store: MemoryStore) -> None:
    path = store.folder / "profile.md"
    old = path.stat().st_mtime_ns - 10_000_000_000
    os.utime(path, ns=(old, old))  # old enough to trust the signature
    first = store.load("profile.md")

    assert store.load("profile.md") is first
    path.write_text(first.text + "- likes tea\n", encoding="utf-8")
    assert store.load("profile.md").text.endswith("- likes tea\n")


def test_a_file_replaced_by_rename_is_reloaded(store: MemoryStore) -> None:
    store.read("profile.md")
    replacement = store.folder / "profile.md.new"
    replacement.write_text("# Profile\nrenamed in\n", encoding="utf-8")
    replacement.rename(store.folder / "profile.md")

    assert store.read("profile.md") == "# Profile\nrenamed in\n"


def test_an_unreadable_file_is_reported_once_and_skipped(
    store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    (store.folder / "broken.md").write_bytes(b"# Broken\n\xff\xfe not utf-8\n")
    caplog.set_level(logging.WARNING, logger="ambient.memory")

    names = [memory_file.name for memory_file in store.files()]
    store.files()
    store.prompt_context(2_000)

    assert "broken.md" not in names and "profile.md" in names
    reports = [r for r in caplog.records if "broken.md" in r.getMessage()]
    assert len(reports) == 1 and "not UTF-8" in reports[0].getMessage()
    (row,) = [row for row in store.status() if row.name == "broken.md"]
    assert row.status == "unreadable" and row.error is not None and "UTF-8" in row.error


def test_a_deleted_template_shows_as_missing(store: MemoryStore) -> None:
    (store.folder / "writing_style.md").unlink()

    rows = {row.name: row for row in store.status()}

    assert rows["writing_style.md"].status == "missing"
    assert "writing_style.md" not in store.prompt_context(4_000)


def test_a_deleted_memory_folder_means_empty_memory_and_one_clear_error(
    store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ambient.memory")
    store.read("profile.md")
    shutil.rmtree(store.folder)

    assert store.files() == []
    assert store.search("newsletter") == []
    assert "No memory files" in store.prompt_context(1_000)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "memory folder" in errors[0].getMessage()
    assert "empty memory" in errors[0].getMessage()

    store.seed()  # the folder is back: memory is too, and the recovery is logged
    assert store.read("profile.md").startswith("# Profile")
    assert [m.name for m in store.files()][0] == "profile.md"
    assert any("usable again" in r.getMessage() for r in caplog.records)


def test_files_in_hidden_folders_are_not_listed(store: MemoryStore) -> None:
    (store.folder / "people").mkdir()
    (store.folder / "people" / "alice.md").write_text("# Alice\n", encoding="utf-8")

    names = store.names()

    assert names[:4] == list(TEMPLATE_NAMES)
    assert "people/alice.md" in names
    assert not any(name.startswith(".git") for name in names)


def test_too_large_a_file_is_refused_with_the_limit(store: MemoryStore, tmp_path: Path) -> None:
    (store.folder / "huge.md").write_text("x" * 600_000, encoding="utf-8")

    (row,) = [row for row in store.status() if row.name == "huge.md"]

    assert row.status == "unreadable" and row.error is not None and "KiB" in row.error
