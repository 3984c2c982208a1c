"""`ambient memory …`: list, show, search, edit, log and undo, with --json for scripts."""

from __future__ import annotations

import json

import pytest

from ambient.cli import main
from ambient.core.config import Settings
from ambient.core.diffs import make_diff, sha256_text
from ambient.memory.changes import MemoryChanges
from ambient.memory.store import MemoryStore


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_list_shows_every_file_and_its_problems(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    (store.folder / "contacts.md").unlink()
    (store.folder / "broken.md").write_bytes(b"\xff\xfe")

    listing = run_json(capsys, "memory", "list")

    assert isinstance(listing, dict)
    rows = {row["file"]: row for row in listing["files"]}
    assert rows["profile.md"]["status"] == "ok" and rows["profile.md"]["tokens"] > 0
    assert rows["contacts.md"]["status"] == "missing"
    assert rows["broken.md"]["status"] == "unreadable" and "UTF-8" in rows["broken.md"]["error"]
    assert listing["history"] is True and listing["uncommitted_edits"] is True


def test_edit_opens_the_editor_and_commits_the_change(
    store: MemoryStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", "sed -i s/Alex/Alexandra/")

    edited = run_json(capsys, "memory", "edit", "contacts")
    log = run_json(capsys, "memory", "log", "--patch")

    assert edited == {"file": "contacts.md", "changed": True, "revision": log[0]["revision"]}  # type: ignore[index]
    assert "Alexandra Kim" in store.read("contacts.md")
    assert isinstance(log, list) and log[0]["subject"] == "user edit: contacts.md"
    assert "+- Alexandra Kim" in log[0]["diff"]


def test_undo_reverts_ambients_newest_change_never_the_users_edit(
    store: MemoryStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = store.read("triage_rules.md")
    anchor = "- Anything from my manager or a customer.\n"
    learned = rules.replace(anchor, anchor + "- Security alerts: notify.\n")
    MemoryChanges(store.folder).apply(
        file="triage_rules.md",
        diff=make_diff("triage_rules.md", rules, learned),
        base_sha256=sha256_text(rules),
        subject="memory: triage_rules.md — learned from rejection of approval 3 (item 1)",
        reason="",
        key="ambient-3",
    )
    monkeypatch.setenv("VISUAL", "sed -i s/Alex/Alexandra/")
    run_json(capsys, "memory", "edit", "contacts.md")  # the user's edit, committed
    profile = store.folder / "profile.md"
    profile.write_text(profile.read_text("utf-8") + "- I like tea.\n", "utf-8")  # unsaved

    undone = run_json(capsys, "memory", "undo")

    assert store.read("triage_rules.md") == rules
    assert "Alexandra Kim" in store.read("contacts.md")
    assert store.read("profile.md").endswith("- I like tea.\n")
    assert isinstance(undone, dict)
    assert undone["subject"].startswith("memory: undo ") and "triage_rules.md" in undone["subject"]
    assert main(["memory", "undo"]) == 3  # nothing of ambient's left to undo: the user's stay
    assert "name its revision" in capsys.readouterr().err


def test_show_and_search(store: MemoryStore, capsys: pytest.CaptureFixture[str]) -> None:
    shown = run_json(capsys, "memory", "show", "triage_rules.md")
    hits = run_json(capsys, "memory", "search", "newsletter")

    assert isinstance(shown, dict) and shown["text"] == store.read("triage_rules.md")
    assert {"level": 2, "title": "Notify", "line": 12} in shown["headings"]
    assert (
        isinstance(hits, list) and {"file": "contacts.md", "line": 12}.items() <= hits[-1].items()
    )
    assert main(["memory", "search", "zebra"]) == 1


def test_paths_out_of_the_folder_are_a_clear_error(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["memory", "show", "../ambient.toml"]) == 2
    assert "'..' is not allowed" in capsys.readouterr().err


def test_init_seeds_the_memory_folder(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--no-samples"]) == 0

    listing = run_json(capsys, "memory", "list")

    assert isinstance(listing, dict)
    assert [row["status"] for row in listing["files"]] == ["ok"] * 4
    assert listing["uncommitted_edits"] is False
