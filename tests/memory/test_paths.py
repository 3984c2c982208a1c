"""Nothing reads or writes outside the memory folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ambient.core.errors import NotFoundError
from ambient.core.paths import UnsafePath
from ambient.memory.names import normalise_name, resolve_in_folder
from ambient.memory.store import MemoryStore


@pytest.mark.parametrize(
    "name",
    ["../secrets.md", "notes/../../x.md", "..", "/etc/passwd", "/tmp/x.md", "~/x.md", "C:\\x.md"],
)
def test_climbing_out_or_absolute_paths_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath):
        resolve_in_folder(tmp_path, name)


@pytest.mark.parametrize("name", [".git/config", ".git/hooks/pre-commit.md", "a/.hidden.md"])
def test_hidden_entries_like_the_history_are_not_memory(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath, match="hidden"):
        resolve_in_folder(tmp_path, name)


def test_only_markdown_files_are_memory(tmp_path: Path) -> None:
    with pytest.raises(UnsafePath, match=r"\*\.md"):
        normalise_name("script.sh")
    assert normalise_name("triage_rules") == "triage_rules.md"
    assert normalise_name("./people/alice.md") == "people/alice.md"


def test_a_symlink_pointing_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "memory"
    folder.mkdir()
    outside = tmp_path / "private.md"
    outside.write_text("# private\nsecret\n", encoding="utf-8")
    (folder / "leak.md").symlink_to(outside)
    store = MemoryStore(folder)

    with pytest.raises(UnsafePath, match="outside the memory folder"):
        store.read("leak.md")
    assert store.files() == []  # listed, refused, skipped
    assert [row.status for row in store.status() if row.name == "leak.md"] == ["unreadable"]
    assert store.search("secret") == []


def test_a_symlink_into_the_history_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "memory"
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "config.md").write_text("x", encoding="utf-8")
    (folder / "sneaky.md").symlink_to(folder / ".git" / "config.md")

    with pytest.raises(UnsafePath, match="hidden"):
        MemoryStore(folder).read("sneaky.md")


def test_a_symlink_to_another_memory_file_is_fine(tmp_path: Path) -> None:
    folder = tmp_path / "memory"
    folder.mkdir()
    (folder / "contacts.md").write_text("# Contacts\nAlex\n", encoding="utf-8")
    (folder / "people.md").symlink_to(folder / "contacts.md")

    assert MemoryStore(folder).read("people.md") == "# Contacts\nAlex\n"


def test_reading_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="nope.md"):
        MemoryStore(tmp_path).read("nope")


def test_something_that_is_not_a_regular_file_is_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "memory"
    folder.mkdir()
    os.mkfifo(folder / "pipe.md")  # reading it would block forever

    (row,) = [row for row in MemoryStore(folder).status() if row.name == "pipe.md"]

    assert row.status == "unreadable"
    assert row.error is not None and "not a regular file" in row.error
