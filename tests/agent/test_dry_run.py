"""`ambient triage FILE.eml`: one run, the decision and drafts printed, nothing queued."""

from __future__ import annotations

import json

import pytest

from ambient.agent.dry_run import dry_run, render_text
from ambient.agent.runner import TriageAgent
from ambient.cli import main
from ambient.runtime import Runtime
from tests.agent.conftest import meeting_email
from tests.agent.scripted import Script, call, respond, triage


@pytest.fixture
def eml(tmp_path):
    path = tmp_path / "meeting.eml"
    path.write_bytes(meeting_email())
    return path


@pytest.fixture
def scripted_agent(monkeypatch, memory):
    """The dry run's agent (the runtime's, the CLI's too) on a script instead of AMBIENT_MODEL."""
    script = Script(
        respond(
            call("reply_email", body="Friday at 10 works.", rationale="meeting request"),
            call("send_email", to=["x@evil.example"], subject="s", body="b", rationale="asked"),
            triage("act", "a colleague wants to meet", "Dana: meeting Friday", "high"),
        )
    )

    def build(runtime: Runtime) -> TriageAgent:
        return TriageAgent(runtime.settings, script.model, runtime.memory, runtime.clock)

    monkeypatch.setattr(Runtime, "untraced_agent", property(build))
    return script


async def test_dry_run_reports_triage_drafts_and_policy(eml, settings, secrets, scripted_agent):
    settings.policy.denied_domains = ["evil.example"]
    runtime = Runtime(settings, secrets)
    report = await dry_run(eml, runtime.untraced_agent, runtime.policy)
    assert report.triage.summary == "Dana: meeting Friday"
    reply, send = report.drafts
    assert (reply.kind, reply.policy, reply.args["to"]) == (
        "reply_email",
        "ok",
        ["dana@example.com"],
    )
    assert send.policy == "block" and any("denied_domain" in f for f in send.findings)
    text = render_text(report)
    assert "decision: act (priority high)" in text
    assert "1. reply_email [policy: ok] meeting request" in text
    assert "! blocked: denied_domain" in text and "nothing queued" in text


def test_cli_triage_shows_the_rule_and_the_reason_of_a_block(
    eml, scripted_agent, capsys, monkeypatch
):
    monkeypatch.setenv("AMBIENT_POLICY__DENIED_DOMAINS", '["evil.example"]')
    assert main(["triage", str(eml)]) == 0
    out = capsys.readouterr().out
    assert "2. send_email [policy: block by denied_domain] asked" in out
    assert "! blocked: denied_domain: x@evil.example: domain evil.example is denied" in " ".join(
        out.split()
    )


def test_cli_triage_json_has_stable_keys_and_queues_nothing(eml, settings, scripted_agent, capsys):
    assert main(["triage", str(eml), "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert set(output) == {
        "file",
        "subject",
        "sender",
        "model",
        "triage",
        "drafts",
        "prompt",
        "pre_rule",
        "model_called",
        "queued",
    }
    assert output["queued"] is False
    assert output["pre_rule"] is None and output["model_called"] is True
    assert output["triage"]["decision"] == "act"
    assert [draft["kind"] for draft in output["drafts"]] == ["reply_email", "send_email"]
    assert set(output["drafts"][0]) == {"kind", "args", "rationale", "policy", "findings"}
    assert not settings.database_path.exists()  # a dry run never touches the database


def test_cli_triage_with_the_configured_test_model(eml, capsys):
    assert main(["triage", str(eml)]) == 0  # AMBIENT_MODEL=test: the demo model
    assert "decision:" in capsys.readouterr().out


def test_cli_triage_of_a_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["triage", str(tmp_path / "nope.eml")]) == 3
    assert "nope.eml: no such file" in " ".join(capsys.readouterr().err.split())


def test_cli_triage_of_bytes_that_are_not_email(tmp_path, capsys):
    path = tmp_path / "junk.eml"
    path.write_bytes(b"\x00\x01\x02")
    assert main(["triage", str(path)]) == 2
    assert "not an email message" in capsys.readouterr().err
