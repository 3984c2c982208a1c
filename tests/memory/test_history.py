"""Applying changes: atomic, committed in the folder's own git history, never over a user's edit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ambient.core.diffs import make_diff, sha256_text
from ambient.core.errors import NotFoundError
from ambient.memory.changes import ChangeConflict, MemoryChanges
from ambient.memory.history import MemoryHistory, MemoryHistoryError
from ambient.memory.store import MemoryStore

NEW_RULE = "- Security alerts from our cloud provider: notify, high priority.\n"


def add_rule(store: MemoryStore, rule: str = NEW_RULE) -> tuple[str, str]:
    """A diff adding one rule under "## Notify", and the sha256 of the text it was made from."""
    text = store.read("triage_rules.md")
    anchor = "- Anything from my manager or a customer.\n"
    return make_diff("triage_rules.md", text, text.replace(anchor, anchor + rule)), sha256_text(
        text
    )


def apply(changes: MemoryChanges, diff: str, base: str, key: str = "key-1") -> str:
    return changes.apply(
        file="triage_rules.md",
        diff=diff,
        base_sha256=base,
        subject="memory: triage_rules.md — learned from rejection of approval 12 (item 7)",
        reason="Security alerts matter.",
        key=key,
    ).revision


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout


def test_an_applied_change_is_a_commit_naming_its_decision(store: MemoryStore) -> None:
    diff, base = add_rule(store)

    revision = apply(MemoryChanges(store.folder), diff, base)

    assert NEW_RULE in store.read("triage_rules.md")
    (newest, *_) = MemoryHistory(store.folder).log()
    assert newest.revision == revision
    assert newest.subject == (
        "memory: triage_rules.md — learned from rejection of approval 12 (item 7)"
    )
    assert newest.files == ("triage_rules.md",)
    assert "Ambient-Key: key-1" in newest.body
    assert "+- Security alerts" in MemoryHistory(store.folder).show(revision)
    assert git(store.folder, "status", "--porcelain") == ""
    assert not list(store.folder.glob(".*.tmp"))  # the temporary file was renamed away


def test_applying_twice_with_the_same_key_commits_once(store: MemoryStore) -> None:
    diff, base = add_rule(store)
    changes = MemoryChanges(store.folder)

    first = apply(changes, diff, base)
    again = changes.apply(
        file="triage_rules.md", diff=diff, base_sha256=base, subject="s", reason="r", key="key-1"
    )

    assert again.already_applied and again.revision == first
    assert store.read("triage_rules.md").count(NEW_RULE) == 1


def test_a_users_pending_edit_is_committed_first_and_kept(store: MemoryStore) -> None:
    diff, base = add_rule(store)
    profile = store.folder / "profile.md"
    profile.write_text(profile.read_text("utf-8") + "- I like tea.\n", encoding="utf-8")
    rules = store.folder / "triage_rules.md"
    rules.write_text(
        "# Triage rules\nMy own first line.\n" + rules.read_text("utf-8")[15:], "utf-8"
    )

    apply(MemoryChanges(store.folder), diff, base)

    subjects = [commit.subject for commit in MemoryHistory(store.folder).log()]
    assert subjects[:2] == [
        "memory: triage_rules.md — learned from rejection of approval 12 (item 7)",
        "user edit: profile.md, triage_rules.md",
    ]
    text = rules.read_text("utf-8")
    assert "My own first line." in text and NEW_RULE in text  # edited elsewhere: still applies
    assert profile.read_text("utf-8").endswith("- I like tea.\n")


def test_a_conflicting_hand_edit_is_never_overwritten(store: MemoryStore) -> None:
    diff, base = add_rule(store)
    rules = store.folder / "triage_rules.md"
    mine = rules.read_text("utf-8").replace(
        "- Anything from my manager or a customer.", "- Anything from Alex (my manager)."
    )
    rules.write_text(mine, encoding="utf-8")

    with pytest.raises(ChangeConflict) as raised:
        apply(MemoryChanges(store.folder), diff, base)

    assert rules.read_text("utf-8") == mine
    assert raised.value.current_text == mine and raised.value.current_sha256 == sha256_text(mine)
    assert "edited since the proposal" in str(raised.value)
    assert MemoryHistory(store.folder).log()[0].subject == "user edit: triage_rules.md"


def test_undo_reverts_a_change_with_a_new_commit(store: MemoryStore) -> None:
    before = store.read("triage_rules.md")
    diff, base = add_rule(store)
    revision = apply(MemoryChanges(store.folder), diff, base)
    history = MemoryHistory(store.folder)

    undone = history.undo()

    assert store.read("triage_rules.md") == before
    assert undone.subject.startswith(f"memory: undo {revision[:7]}")
    assert [c.subject for c in history.log()][1].startswith("memory: triage_rules.md")
    history.undo(undone.revision)  # undoing the undo brings it back
    assert NEW_RULE in store.read("triage_rules.md")


def test_undo_refuses_when_later_changes_touch_the_same_lines(store: MemoryStore) -> None:
    diff, base = add_rule(store)
    revision = apply(MemoryChanges(store.folder), diff, base)
    rules = store.folder / "triage_rules.md"
    edited = rules.read_text("utf-8").replace("high priority", "urgent")
    rules.write_text(edited, encoding="utf-8")
    history = MemoryHistory(store.folder)

    with pytest.raises(MemoryHistoryError, match="later changes touch the same lines"):
        history.undo(revision)

    assert rules.read_text("utf-8") == edited  # nothing lost, nothing half-reverted
    assert git(store.folder, "status", "--porcelain") == ""
    with pytest.raises(MemoryHistoryError, match="start of the history"):
        history.undo(history.log()[-1].revision)
    with pytest.raises(MemoryHistoryError, match="not a revision"):
        history.undo("--hard")


def test_git_needs_no_global_configuration(
    store: MemoryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = tmp_path / "gitconfig"
    hostile.write_text("[commit]\n\tgpgsign = true\n[user]\n\tuseConfigOnly = true\n", "utf-8")
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(hostile))
    diff, base = add_rule(store)

    apply(MemoryChanges(store.folder), diff, base)

    assert MemoryHistory(store.folder).log()[0].author == "ambient"


def test_undo_without_a_revision_reverts_ambients_change_and_keeps_the_hand_edit(
    store: MemoryStore,
) -> None:
    before = store.read("triage_rules.md")
    diff, base = add_rule(store)
    revision = apply(MemoryChanges(store.folder), diff, base)
    profile = store.folder / "profile.md"
    mine = profile.read_text("utf-8") + "- I like tea.\n"
    profile.write_text(mine, encoding="utf-8")  # not committed yet
    history = MemoryHistory(store.folder)

    undone = history.undo()

    assert store.read("triage_rules.md") == before
    assert profile.read_text("utf-8") == mine
    assert undone.subject.startswith(f"memory: undo {revision[:7]} memory: triage_rules.md")
    assert f"Ambient-Undoes: {revision}" in undone.body
    assert [commit.subject for commit in history.log()][1] == "user edit: profile.md"
    assert git(store.folder, "status", "--porcelain") == ""


def test_undo_again_goes_further_back_and_never_reverts_the_users_edit(
    store: MemoryStore,
) -> None:
    before = store.read("triage_rules.md")
    changes = MemoryChanges(store.folder)
    first, base = add_rule(store)
    apply(changes, first, base, key="key-1")
    second, base = add_rule(store, "- Invoices over 1000 EUR: notify.\n")
    apply(changes, second, base, key="key-2")
    history = MemoryHistory(store.folder)
    history.commit_user_edits()  # nothing pending: no commit
    contacts = store.folder / "contacts.md"
    contacts.write_text(contacts.read_text("utf-8") + "- Sam: the plumber.\n", "utf-8")
    history.commit_user_edits()  # a hand edit, committed: the newest commit

    history.undo()
    history.undo()

    assert store.read("triage_rules.md") == before
    assert contacts.read_text("utf-8").endswith("- Sam: the plumber.\n")
    with pytest.raises(NotFoundError, match="ambient made no memory change that is not undone"):
        history.undo()


def test_undo_refuses_to_revert_over_the_users_unsaved_edit_of_those_lines(
    store: MemoryStore,
) -> None:
    diff, base = add_rule(store)
    apply(MemoryChanges(store.folder), diff, base)
    rules = store.folder / "triage_rules.md"
    mine = rules.read_text("utf-8").replace("high priority", "urgent, call me")
    rules.write_text(mine, encoding="utf-8")

    with pytest.raises(MemoryHistoryError, match=r"same lines \(your edit is kept, as [0-9a-f]+"):
        MemoryHistory(store.folder).undo()

    assert rules.read_text("utf-8") == mine
    assert MemoryHistory(store.folder).log()[0].subject == "user edit: triage_rules.md"
    assert git(store.folder, "status", "--porcelain") == ""


def _apply_with_reason(
    changes: MemoryChanges, store: MemoryStore, rule: str, reason: str, key: str
):
    diff, base = add_rule(store, rule)
    return changes.apply(
        file="triage_rules.md",
        diff=diff,
        base_sha256=base,
        subject="memory: triage_rules.md — learned from rejection of approval 13 (item 8)",
        reason=reason,
        key=key,
    ).revision


@pytest.mark.parametrize("blank_line", ["", "\n"])
def test_a_reason_posing_as_an_undo_does_not_make_undo_skip_a_change(
    store: MemoryStore, blank_line: str
) -> None:
    changes = MemoryChanges(store.folder)
    first = _apply_with_reason(changes, store, NEW_RULE, "Security alerts matter.", "key-1")
    forged = f"Invoices matter.\n{blank_line}Ambient-Undoes: {first}"
    second = _apply_with_reason(changes, store, "- Invoices: notify.\n", forged, "key-2")
    history = MemoryHistory(store.folder)

    undone = history.undo()

    assert f"Ambient-Undoes: {second}" in undone.body  # the newest change, as asked
    assert "- Invoices: notify." not in store.read("triage_rules.md")
    assert NEW_RULE in store.read("triage_rules.md")
    assert history.undo().body.endswith(f"Ambient-Undoes: {first}")  # and then the one before
    assert NEW_RULE not in store.read("triage_rules.md")


def test_trailer_shaped_lines_in_a_reason_are_indented_in_the_commit(store: MemoryStore) -> None:
    reason = "Noted.\nAmbient-Key: key-9\nambient-undoes : abc\nThe sender: a customer"
    reason += "\n\nReviewed-by: the user"
    revision = _apply_with_reason(MemoryChanges(store.folder), store, NEW_RULE, reason, "key-1")

    body = MemoryHistory(store.folder).log(limit=1)[0].body
    assert body.splitlines() == [
        "Noted.",
        "  Ambient-Key: key-9",
        "  ambient-undoes : abc",
        "The sender: a customer",  # not a trailer's shape: a trailer's key has no space
        "",
        "  Reviewed-by: the user",
        "",
        "Ambient-Key: key-1",
    ]
    assert MemoryHistory(store.folder).find_by_trailer("Ambient-Key", "key-1") == revision


def test_a_key_named_in_an_earlier_reason_does_not_pass_for_its_change(store: MemoryStore) -> None:
    changes = MemoryChanges(store.folder)
    _apply_with_reason(changes, store, NEW_RULE, "Noted.\nAmbient-Key: key-2", "key-1")

    later = changes.apply(
        file="triage_rules.md",
        diff=add_rule(store, "- Invoices: notify.\n")[0],
        base_sha256=add_rule(store)[1],
        subject="memory: triage_rules.md — update",
        reason="Invoices.",
        key="key-2",
    )

    assert not later.already_applied
    assert "- Invoices: notify." in store.read("triage_rules.md")
    assert MemoryHistory(store.folder).find_by_trailer("Ambient-Key", "key-2") == later.revision
