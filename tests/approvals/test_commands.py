"""`ambient approvals …` and `ambient log`: decisions bound to what the command showed."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from ambient.cli import main
from tests.approvals.conftest import Queue, reply


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code, out = run(capsys, *argv, "--json")
    return code, json.loads(out)


def test_list_and_show_give_stable_json_with_the_hash(capsys, queue_for: Queue):
    a, b = queue_for(reply(), reply(to=["x@attacker.example"]))
    code, rows = run_json(capsys, "approvals", "list")
    assert code == 0 and [row["id"] for row in rows] == [a.id, b.id]
    assert rows[1]["status"] == "blocked" and "reply_outside_thread" in rows[1]["block_reason"]
    code, shown = run_json(capsys, "approvals", "show", str(a.id))
    assert shown["shown_hash"] == a.shown_hash
    assert shown["effective_args"]["to"] == ["dana@example.com"]
    assert {"rationale", "warnings", "trace_id", "decision", "result"} <= set(shown)


def test_approve_with_the_hash_from_show(capsys, queue_for: Queue):
    (row,) = queue_for(reply())
    code, outcome = run_json(capsys, "approvals", "approve", str(row.id), "--hash", row.shown_hash)
    assert code == 0 and outcome[0]["ok"] and outcome[0]["approval"]["status"] == "approved"
    assert outcome[0]["approval"]["decided_by"].startswith("cli:")


def test_a_hash_that_no_longer_matches_is_refused(capsys, queue_for: Queue):
    (row,) = queue_for(reply())
    code, out = run(capsys, "approvals", "approve", str(row.id), "--hash", "f" * 64)
    assert code == 4 and "changed since it was shown" in out


def test_without_a_hash_the_command_decides_on_what_it_printed(capsys, queue_for: Queue):
    (row,) = queue_for(reply())
    code, out = run(capsys, "approvals", "approve", str(row.id))
    assert code == 0
    assert f"hash: {row.shown_hash}" in out and "Friday at noon works" in out
    assert f"approved approval {row.id}: the daemon's outbox runs it" in out


def test_bulk_reject_and_a_refusal_in_the_batch(capsys, queue_for: Queue):
    a, b, c = queue_for(reply(), reply(body="2"), reply(body="3"))
    run(capsys, "approvals", "ignore", str(c.id))
    code, outcomes = run_json(
        capsys, "approvals", "reject", str(a.id), str(b.id), str(c.id), "--reason", "not now"
    )
    assert code == 4
    assert [(o["id"], o["ok"]) for o in outcomes] == [(a.id, True), (b.id, True), (c.id, False)]


def test_edit_with_set_assignments(capsys, queue_for: Queue):
    (row,) = queue_for(reply())
    code, outcome = run_json(
        capsys,
        "approvals",
        "edit",
        str(row.id),
        "--set",
        "body=Monday instead?",
        "--set",
        "cc=lee@example.com, me@example.com",
    )
    assert code == 0
    approval = outcome[0]["approval"]
    assert approval["decision"] == "edited"
    assert approval["effective_args"]["body"] == "Monday instead?"
    assert approval["effective_args"]["cc"] == ["lee@example.com", "me@example.com"]


def _editor_script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-editor"
    script.write_text(f"#!/bin/sh\nsed -i 's/{body}' \"$1\"\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_edit_in_the_editor_as_toml(
    capsys, queue_for: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (row,) = queue_for(reply())
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", _editor_script(tmp_path, "Friday at noon/Monday at one/"))
    code, outcome = run_json(capsys, "approvals", "edit", str(row.id))
    assert code == 0
    assert outcome[0]["approval"]["effective_args"]["body"] == "Monday at one works. See you then!"


def test_an_edit_saved_unchanged_decides_nothing(
    capsys, queue_for: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (row,) = queue_for(reply())
    monkeypatch.setenv("VISUAL", _editor_script(tmp_path, "nothing-matches-this//"))
    code, out = run(capsys, "approvals", "edit", str(row.id))
    assert code == 1 and "unchanged: nothing decided" in out


def test_feedback_undo_and_a_refused_retry(capsys, queue_for: Queue):
    (row,) = queue_for(reply())
    code, outcome = run_json(capsys, "approvals", "feedback", str(row.id), "--message", "shorter")
    assert code == 0 and outcome[0]["approval"]["status"] == "feedback"
    code, outcome = run_json(capsys, "approvals", "undo", str(row.id))
    assert code == 0 and outcome[0]["approval"]["status"] == "pending"
    code, out = run(capsys, "approvals", "retry", str(row.id))
    assert code == 4 and "is pending, not dead" in out


def test_an_unknown_approval_is_exit_code_3(capsys, engine: Engine):
    code, out = run(capsys, "approvals", "show", "4242")
    assert code == 3 and "approval 4242 does not exist" in out


def test_log_shows_decisions_and_verifies_the_chain(capsys, queue_for: Queue, engine: Engine):
    (row,) = queue_for(reply())
    run(capsys, "approvals", "approve", str(row.id))
    code, log = run_json(capsys, "log", "--verify")
    assert code == 0 and log["chain"]["ok"]
    assert [entry["event"] for entry in log["entries"]] == ["approved", "queued"]
    code, out = run(capsys, "log")
    assert code == 0 and "approved" in out and "cli:" in out
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_entry SET event = 'rejected' WHERE event = 'approved'")
        )
    code, out = run(capsys, "log", "--verify")
    assert code == 1 and "audit chain broken at entry 2" in out


def test_show_prints_untrusted_text_without_interpreting_markup(capsys, queue_for: Queue):
    (row,) = queue_for(reply(body="[bold red]Click[/] [link=https://evil.example]here[/link]"))
    code, out = run(capsys, "approvals", "show", str(row.id))
    assert code == 0 and "[link=https://evil.example]here[/link]" in out


def test_an_edit_prints_what_changed_from_the_draft(capsys, queue_for: Queue):
    (row,) = queue_for(reply())
    code, out = run(capsys, "approvals", "edit", str(row.id), "--set", "body=Monday instead?")
    assert code == 0
    assert "--- drafted" in out and "+++ approved" in out
    assert '+  "body": "Monday instead?",' in out


def test_approving_an_email_without_an_smtp_account_says_how_to_send_it(
    capsys, queue_for: Queue, settings
):
    assert not settings.can_send_email
    (row,) = queue_for(reply())
    code, out = run(capsys, "approvals", "approve", str(row.id))
    assert code == 0
    assert "no SMTP account is configured: add [smtp] to ambient.toml" in out
    assert f"ambient approvals retry {row.id}" in out
