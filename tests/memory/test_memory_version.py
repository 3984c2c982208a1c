"""The memory's version in a decision's lineage: its git commit, marked when edits are pending."""

from __future__ import annotations

from pathlib import Path

import pytest

from ambient.memory import version as version_module
from ambient.memory.history import MemoryHistory
from ambient.memory.store import MemoryStore
from ambient.memory.version import MemoryVersion


def test_the_version_is_the_head_commit_and_follows_a_new_commit(store: MemoryStore) -> None:
    history = MemoryHistory(store.folder)
    memory = MemoryVersion(store.folder)
    first = memory.current()
    assert first == history.head() and len(first) == 40
    (store.folder / "contacts.md").write_text("# Contacts\n- Dana: colleague\n", encoding="utf-8")
    history.commit_user_edits()
    assert memory.current() == history.head() != first


def test_edits_not_committed_yet_are_marked(store: MemoryStore) -> None:
    history = MemoryHistory(store.folder)
    memory = MemoryVersion(store.folder)
    head = history.head()
    (store.folder / "profile.md").write_text("# Profile\nName: Robin.\n", encoding="utf-8")
    assert memory.current() == f"{head}+edits"
    (store.folder / "profile.md").unlink()  # a deleted file is an edit too
    assert memory.current() == f"{head}+edits"
    committed = history.commit_user_edits()
    assert memory.current() == committed


def test_git_runs_only_when_the_folder_changed(store: MemoryStore) -> None:
    memory = MemoryVersion(store.folder)
    answers = {memory.current() for _ in range(5)}
    assert len(answers) == 1 and memory.reads == 1
    (store.folder / "new_notes.md").write_text("# Notes\n", encoding="utf-8")
    assert memory.current().endswith("+edits") and memory.reads == 2
    assert memory.current().endswith("+edits") and memory.reads == 2


def test_no_history_is_none_never_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "memory"
    assert MemoryVersion(folder).current() == "none"  # no folder at all
    folder.mkdir()
    (folder / "profile.md").write_text("# Profile\n", encoding="utf-8")
    assert MemoryVersion(folder).current() == "none"  # a folder without git history
    MemoryHistory(folder)._run("init", "--quiet")
    assert MemoryVersion(folder).current() == "none"  # a history without a commit yet


def test_without_git_installed_the_version_is_none(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(version_module, "git_available", lambda: False)
    assert MemoryVersion(store.folder).current() == "none"
