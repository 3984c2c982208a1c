"""`ambient approvals …` and `ambient log`: decisions bound to what the command showed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.approvals.conftest import Queue, reply
from tests.conftest import CommandLine


def test_list_and_show_give_stable_json_with_the_hash(cli: CommandLine, queue_for: Queue):
    a, b = queue_for(reply(), reply(to=["x@attacker.example"]))
    code, rows = cli.json("approvals", "list")
    assert code == 0 and [row["id"] for row in rows] == [a.id, b.id]
    assert rows[1]["status"] == "blocked" and "reply_outside_thread" in rows[1]["block_reason"]
    code, shown = cli.json("approvals", "show", str(a.id))
    assert shown["shown_hash"] == a.shown_hash
    assert shown["effective_args"]["to"] == ["dana@example.com"]
    assert {"rationale", "warnings", "trace_id", "decision", "result"} <= set(shown)


def test_approve_with_the_hash_from_show(cli: CommandLine, queue_for: Queue):
    (row,) = queue_for(reply())
    code, outcome = cli.json("approvals", "approve", str(row.id), "--hash", row.shown_hash)
    assert code == 0 and outcome[0]["ok"] and outcome[0]["approval"]["status"] == "approved"
    assert outcome[0]["approval"]["decided_by"].startswith("cli:")


def test_a_hash_that_no_longer_matches_is_refused(cli: CommandLine, queue_for: Queue):
    (row,) = queue_for(reply())
    code, out = cli.run("approvals", "approve", str(row.id), "--hash", "f" * 64)
    assert code == 4 and "changed since it was shown" in out


def test_without_a_hash_the_command_decides_on_what_it_printed(cli: CommandLine, queue_for: Queue):
    (row,) = queue_for(reply())
    code, out = cli.run("approvals", "approve", str(row.id))
    assert code == 0
    assert f"hash: {row.shown_hash}" in out and "Friday at noon works" in out
    assert f"approved approval {row.id}: the daemon's outbox runs it" in out


def test_bulk_reject_and_a_refusal_in_the_batch(cli: CommandLine, queue_for: Queue):
    a, b, c = queue_for(reply(), reply(body="2"), reply(body="3"))
    cli.run("approvals", "ignore", str(c.id))
    code, outcomes = cli.json(
        "approvals", "reject", str(a.id), str(b.id), str(c.id), "--reason", "not now"
    )
    assert code == 4
    assert [(o["id"], o["ok"]) for o in outcomes] == [(a.id, True), (b.id, True), (c.id, False)]


def test_edit_with_set_assignments(cli: CommandLine, queue_for: Queue):
    (row,) = queue_for(reply())
    code, outcome = cli.json(
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


def test_edit_in_the_editor_as_the_text_the_tui_edits(
    cli: CommandLine, queue_for: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (row,) = queue_for(reply())
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", _editor_script(tmp_path, "Friday at noon/Monday at one/"))
    code, outcome = cli.json("approvals", "edit", str(row.id))
    assert code == 0
    assert outcome[0]["approval"]["effective_args"]["body"] == "Monday at one works. See you then!"


def test_an_edit_saved_unchanged_decides_nothing(
    cli: CommandLine, queue_for: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (row,) = queue_for(reply())
    monkeypatch.setenv("VISUAL", _editor_script(tmp_path, "nothing-matches-this//"))
    code, out = cli.run("approvals", "edit", str(row.id))
    assert code == 1 and "unchanged: nothing decided" in out


def test_feedback_undo_and_a_refused_retry(cli: CommandLine, queue_for: Queue):
    (row,) = queue_for(reply())
    code, outcome = cli.json("approvals", "feedback", str(row.id), "--message", "shorter")
    assert code == 0 and outcome[0]["approval"]["status"] == "feedback"
    code, outcome = cli.json("approvals", "undo", str(row.id))
    assert code == 0 and outcome[0]["approval"]["status"] == "pending"
    code, out = cli.run("approvals", "retry", str(row.id))
    assert code == 4 and "is pending, not dead" in out


def test_an_unknown_approval_is_exit_code_3(cli: CommandLine, engine: Engine):
    code, out = cli.run("approvals", "show", "4242")
    assert code == 3 and "approval 4242 does not exist" in out


def test_log_shows_decisions_and_verifies_the_chain(
    cli: CommandLine, queue_for: Queue, engine: Engine
):
    (row,) = queue_for(reply())
    cli.run("approvals", "approve", str(row.id))
    code, log = cli.json("log", "--verify")
    assert code == 0 and log["chain"]["ok"]
    assert [entry["event"] for entry in log["entries"]] == ["approved", "queued"]
    code, out = cli.run("log")
    assert code == 0 and "approved" in out and "cli:" in out
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_entry SET event = 'rejected' WHERE event = 'approved'")
        )
    code, out = cli.run("log", "--verify")
    assert code == 1 and "audit chain broken at entry 2" in out


def test_show_prints_untrusted_text_without_interpreting_markup(cli: CommandLine, queue_for: Queue):
    (row,) = queue_for(reply(body="[bold red]Click[/] [link=https://evil.example]here[/link]"))
    code, out = cli.run("approvals", "show", str(row.id))
    assert code == 0 and "[link=https://evil.example]here[/link]" in out


def test_an_edit_prints_what_changed_from_the_draft(cli: CommandLine, queue_for: Queue):
    (row,) = queue_for(reply())
    code, out = cli.run("approvals", "edit", str(row.id), "--set", "body=Monday instead?")
    assert code == 0
    assert "--- drafted" in out and "+++ approved" in out
    assert '+  "body": "Monday instead?",' in out


def test_approving_an_email_without_an_smtp_account_says_how_to_send_it(
    cli: CommandLine, queue_for: Queue, settings
):
    assert not settings.can_send_email
    (row,) = queue_for(reply())
    code, out = cli.run("approvals", "approve", str(row.id))
    assert code == 0
    assert "no SMTP account is configured: add [smtp] to ambient.toml" in out
    assert f"ambient approvals retry {row.id}" in out


def test_log_verify_prints_only_the_verdict_and_the_table_with_verbose(
    cli: CommandLine, queue_for: Queue
):
    (row,) = queue_for(reply())
    cli.run("approvals", "approve", str(row.id))
    code, out = cli.run("log", "--verify")
    assert code == 0 and out.strip() == "audit chain intact (2 entries)"
    code, out = cli.run("log", "--verify", "-v")
    assert code == 0 and "cli:" in out and "queued" in out
    assert out.rstrip().endswith("audit chain intact (2 entries)")


def _delivery_uncertain(engine: Engine, approval_id: int) -> None:
    """As the outbox leaves an email whose connection broke while the server was receiving it."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE approval SET status = 'dead', delivery_stage = 'sending', "
                "last_error = 'delivery uncertain: the connection failed' WHERE id = :id"
            ),
            {"id": approval_id},
        )


def test_delivered_closes_an_email_whose_delivery_is_uncertain_and_audits_it(
    cli: CommandLine, queue_for: Queue, engine: Engine
):
    first, second = queue_for(reply(), reply(body="2"))
    for row in (first, second):
        cli.run("approvals", "approve", str(row.id), "--ack")
        _delivery_uncertain(engine, row.id)
    code, out = cli.run("approvals", "delivered", str(first.id))
    assert code == 0
    assert f"executed approval {first.id}: closed as delivered; it will not be sent again" in out
    code, outcome = cli.json("approvals", "delivered", str(second.id))
    assert code == 0 and outcome[0]["ok"]
    assert outcome[0]["approval"]["status"] == "executed"
    assert outcome[0]["approval"]["result"]["confirmed_by"].startswith("cli:")
    code, log = cli.json("log", "--approval", str(second.id))
    newest = log["entries"][0]
    assert newest["event"] == "delivered" and newest["actor"].startswith("cli:")


def test_delivered_refuses_an_action_whose_delivery_is_not_uncertain(
    cli: CommandLine, queue_for: Queue
):
    (row,) = queue_for(reply())
    code, out = cli.run("approvals", "delivered", str(row.id))
    assert code == 4
    assert f"approval {row.id} is pending: only a dead email whose delivery is uncertain" in out
    code, outcome = cli.json("approvals", "delivered", str(row.id))
    assert code == 4 and not outcome[0]["ok"] and "pending" in outcome[0]["reason"]
