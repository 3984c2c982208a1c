"""`ambient autonomy list|off|on|reset`: each class's evidence, and the kill switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import ApprovalStatus
from tests.approvals.conftest import Queue, reply
from tests.conftest import CommandLine

DANA = "reply_email:dana@example.com"


def enable_autonomy(home: Path, streak: int = 2) -> None:
    (home / "ambient.toml").write_text(f"[autonomy]\nenabled = true\nstreak = {streak}\n")


@pytest.fixture
def earned(ambient_home: Path, queue: ApprovalQueue, queue_for: Queue) -> None:
    """Autonomy enabled in ambient.toml (streak 2), and Dana's replies approved twice."""
    queue.settings.autonomy.enabled = True
    queue.settings.autonomy.streak = 2
    enable_autonomy(ambient_home)
    for _ in range(2):
        (row,) = queue_for(reply())
        queue.approve(row.id, shown_hash=row.shown_hash, actor="cli:me")


def test_list_shows_each_class_with_its_level_streak_and_reason(
    cli: CommandLine, earned: None
) -> None:
    code, listing = cli.json("autonomy", "list")

    assert code == 0
    assert (listing["enabled"], listing["switch"], listing["active"]) == (True, "on", True)
    (evidence,) = listing["classes"]
    assert evidence["name"] == DANA and evidence["level"] == "autonomous"
    assert (evidence["streak"], evidence["needed"], evidence["acting"]) == (2, 2, True)
    assert evidence["reason"] == "2 approvals in a row without an edit"
    assert evidence["eval_agreement"] is None and evidence["changed_at"]

    code, out = cli.run("autonomy", "list")
    assert code == 0 and "autonomy is on for the kinds safe by default" in out
    assert DANA in out and "autonomous" in out and "2/2" in out


def test_off_stops_the_rule_on_resumes_it_and_both_are_in_the_audit_log(
    cli: CommandLine, earned: None, queue_for: Queue
) -> None:
    code, out = cli.run("autonomy", "off")
    assert code == 0 and "autonomy switched off" in out
    (held,) = queue_for(reply())
    assert held.status == ApprovalStatus.PENDING
    code, listing = cli.json("autonomy", "list")
    assert (listing["switch"], listing["active"]) == ("off", False)
    assert listing["classes"][0]["note"] == "switched off"
    code, out = cli.run("autonomy", "list")
    assert "autonomy is switched off (by cli:" in out

    code, out = cli.run("autonomy", "on")
    assert code == 0 and "autonomy switched on" in out
    (automatic,) = queue_for(reply())
    assert automatic.status == ApprovalStatus.APPROVED
    code, log = cli.json("log")
    events = [entry["event"] for entry in log["entries"]]
    assert events.index("autonomy_on") < events.index("autonomy_off")  # newest first
    code, out = cli.run("log", "--verify")
    assert code == 0


def test_reset_puts_a_class_back_to_learning(cli: CommandLine, earned: None) -> None:
    code, reset = cli.json("autonomy", "reset", DANA)
    assert code == 0 and (reset["level"], reset["streak"]) == ("learning", 0)
    assert reset["reason"].startswith("reset by cli:")
    code, out = cli.run("autonomy", "reset", "reply_email:nobody@example.com")
    assert code == 3 and "no action class 'reply_email:nobody@example.com'" in out


def test_with_autonomy_off_in_ambient_toml_the_evidence_still_shows(
    cli: CommandLine, queue: ApprovalQueue, queue_for: Queue
) -> None:
    (row,) = queue_for(reply())
    queue.approve(row.id, shown_hash=row.shown_hash, actor="cli:me")

    code, out = cli.run("autonomy", "list")
    assert code == 0 and "autonomy is off in ambient.toml" in out
    assert DANA in out and "learning" in out and "1/20" in out
    code, out = cli.run("autonomy", "on")
    assert "autonomy was already on" in out
    assert "autonomy is off in ambient.toml: set [autonomy] enabled = true" in " ".join(out.split())
