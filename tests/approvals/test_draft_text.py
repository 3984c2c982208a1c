"""A draft as the text a human edits (CLI and TUI alike) and back: exact round trips, errors
that say where and why."""

from __future__ import annotations

import pytest

from ambient.approvals.editing import draft_to_text, normalized_args, text_to_args
from ambient.core.diffs import text_diff
from ambient.core.errors import DecisionError

REPLY = {
    "to": ["alice@example.com"],
    "cc": [],
    "subject": "Re: Lunch",
    "body": "Hi Alice,\n\nFriday works.\n\nMe",
    "attachments": [],
}


def test_a_reply_reads_like_an_email_and_round_trips() -> None:
    text = draft_to_text("reply_email", REPLY, comment="Edit below.")
    assert text.startswith("# Edit below.\nTo: alice@example.com\nCc: \nSubject: Re: Lunch\n")
    assert text.endswith("\n\nHi Alice,\n\nFriday works.\n\nMe\n")
    assert text_to_args("reply_email", text) == REPLY


def test_an_editor_adding_a_trailing_newline_changes_nothing() -> None:
    text = draft_to_text("reply_email", REPLY) + "\n"
    assert text_to_args("reply_email", text) == normalized_args("reply_email", REPLY)


def test_a_line_appended_to_the_file_is_a_new_last_line_of_the_body() -> None:
    text = draft_to_text("reply_email", REPLY) + "P.S. Bring the notes.\n"
    body = text_to_args("reply_email", text)["body"]
    assert body == "Hi Alice,\n\nFriday works.\n\nMe\nP.S. Bring the notes."


def test_lists_are_comma_separated_and_names_become_bare_addresses() -> None:
    text = draft_to_text("reply_email", REPLY).replace(
        "To: alice@example.com", "To: Alice <alice@example.com>, bob@example.com"
    )
    assert text_to_args("reply_email", text)["to"] == ["alice@example.com", "bob@example.com"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("To: alice@example.com", "To: alice at example"), "not an email address"),
        (("Subject:", "Bcc:"), "line 3: unknown header 'Bcc'"),
        (("Cc: \n", "Cc: \nthis line has no colon\n"), "line 3: expected `Name: value`"),
        (("To: alice@example.com", "To:"), "to: List should have at least 1 item"),
    ],
)
def test_invalid_edits_say_what_is_wrong(change: tuple[str, str], message: str) -> None:
    text = draft_to_text("reply_email", REPLY).replace(*change, 1)
    with pytest.raises(DecisionError, match=message):
        text_to_args("reply_email", text)


def test_a_webhook_payload_is_edited_as_toml_and_json_is_read_too() -> None:
    args = {"url": "https://hooks.example.com/x", "payload": {"ref": "main", "force": False}}
    text = draft_to_text("call_webhook", args)
    assert text == 'URL: https://hooks.example.com/x\n\nref = "main"\nforce = false\n'
    assert text_to_args("call_webhook", text) == args
    as_json = 'URL: https://hooks.example.com/x\n\n{"ref": "main", "force": false}\n'
    assert text_to_args("call_webhook", as_json) == args
    with pytest.raises(DecisionError, match="Payload: not TOML"):
        text_to_args("call_webhook", text.replace('"main"', "main"))
    with pytest.raises(DecisionError, match="Payload: not JSON"):
        text_to_args("call_webhook", as_json.replace('"main"', "main"))


def test_a_payload_toml_cannot_hold_is_edited_as_json() -> None:
    args = {"url": "https://hooks.example.com/x", "payload": {"ref": None, "tags": ["a"]}}
    text = draft_to_text("call_webhook", args)
    assert text.startswith("URL: https://hooks.example.com/x\n\n{\n")
    assert text_to_args("call_webhook", text) == args


def test_a_note_is_its_path_then_its_markdown() -> None:
    args = {"path": "meetings/q3.md", "content": "# Q3\n\nBudget moved to Thursday.\n"}
    text = draft_to_text("write_note", args)
    assert text == "Path: meetings/q3.md\n\n# Q3\n\nBudget moved to Thursday.\n"
    assert text_to_args("write_note", text) == args


def test_a_memory_diff_keeps_its_exact_lines() -> None:
    args = {
        "file": "contacts.md",
        "diff": "--- a/contacts.md\n+++ b/contacts.md\n@@ -1 +1,2 @@\n # Contacts\n+- Alice\n",
        "base_sha256": "a" * 64,
        "reason": "learned from a reply",
    }
    text = draft_to_text("memory_update", args)
    assert "Base-SHA256: " + "a" * 64 in text
    assert text_to_args("memory_update", text) == args


def test_the_diff_compares_the_draft_with_the_edit() -> None:
    before = draft_to_text("reply_email", REPLY)
    after = before.replace("Friday works.", "Saturday works.")
    diff = text_diff(before, after)
    assert "-Friday works." in diff and "+Saturday works." in diff
    assert text_diff(before, before) == ""


def test_a_payload_of_tables_round_trips_though_its_toml_starts_with_a_bracket() -> None:
    args = {"url": "https://hooks.example.com/x", "payload": {"event": {"type": "deploy"}}}
    text = draft_to_text("call_webhook", args)
    assert "\n\n[event]\n" in text
    assert text_to_args("call_webhook", text) == args


def test_a_header_value_of_several_lines_round_trips() -> None:
    args = {
        "file": "contacts.md",
        "diff": "--- a/contacts.md\n+++ b/contacts.md\n@@ -1 +1,2 @@\n # Contacts\n+- Alice\n",
        "base_sha256": "a" * 64,
        "reason": "learned from a reply\nand from a rejection",
    }
    text = draft_to_text("memory_update", args)
    assert "Reason: learned from a reply\n  and from a rejection\n" in text
    assert text_to_args("memory_update", text) == args
