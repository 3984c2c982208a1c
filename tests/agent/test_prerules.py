"""Pre-rules decide an item from its headers before any model call: bulk and list mail and
auto-replies are ignored, bounces notify, the user's [[rules]] come first (first match wins)
and may draft an action through the normal queue; the item, its approval and its trace say
which rule decided, and `ambient status` and the status bar count what was decided so."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from ambient.agent.deps import AgentItem
from ambient.agent.prerules import PreRules
from ambient.agent.processor import AgentProcessor
from ambient.agent.runner import TriageAgent
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import ApprovalStatus
from ambient.core.config import Settings, WorkerSettings, load_settings
from ambient.core.db import open_database, write_session
from ambient.core.errors import ConfigError
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from ambient.core.lineage import NO_MODEL, Lineage
from ambient.core.rule_settings import PreRuleSettings, RuleSettings
from ambient.core.tables import Item
from ambient.daemon.worker import Worker
from ambient.runtime import Runtime
from ambient.tracing.assembly import open_tracing
from ambient.tui.app import make_app
from ambient.tui.widgets.status_bar import status_text
from tests.agent.conftest import item_from, meeting_email
from tests.agent.scripted import Script, respond, triage
from tests.conftest import CommandLine
from tests.daemon.mail import email_bytes
from tests.tui.test_status_bar import busy_snapshot

NEWSLETTER = "List-Id: Weekly Digest <list.digest.example>\r\n"
BOUNCE_REPORT = (
    "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n"
    "Auto-Submitted: auto-replied\r\n"
)


def no_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    pytest.fail("the model was called for an item a pre-rule decides")


def mail(extra_headers: str = "", **fields: Any) -> bytes:
    return email_bytes(fields.pop("subject", "Hello"), extra_headers=extra_headers, **fields)


def rules(*entries: dict[str, Any]) -> list[RuleSettings]:
    return [RuleSettings.model_validate(entry) for entry in entries]


def pre_rules(*entries: dict[str, Any], **built_ins: Any) -> PreRules:
    return PreRules(rules(*entries), PreRuleSettings(**built_ins))


def fired(raw: bytes, *entries: dict[str, Any], **built_ins: Any) -> tuple[str, str] | None:
    """(rule, decision) of the rule that fires on `raw`, or None."""
    match = pre_rules(*entries, **built_ins).first_match(item_from(raw), raw)
    return (match.name, match.decision) if match is not None else None


@pytest.fixture
def silent_agent(settings, memory, clock) -> TriageAgent:
    return TriageAgent(settings, FunctionModel(no_model), memory, clock)


def gated_queue(settings: Settings, engine, clock) -> ApprovalQueue:
    return ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))


# ---- the built-ins ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    [
        NEWSLETTER,
        "List-Unsubscribe: <https://digest.example/u>\r\n",
        "Precedence: bulk\r\n",
        "Precedence: list\r\n",
        "Precedence: JUNK\r\n",
    ],
)
def test_bulk_and_list_mail_is_ignored(header: str) -> None:
    assert fired(mail(header)) == ("bulk", "ignore")


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied\r\n",
        "Auto-Submitted: Auto-Replied; owner-email=it@example.com\r\n",
        "X-Autoreply: yes\r\n",
        "X-Autorespond: vacation\r\n",
    ],
)
def test_auto_replies_are_ignored(header: str) -> None:
    assert fired(mail(header)) == ("auto_reply", "ignore")


def test_mail_a_person_wrote_fires_no_rule() -> None:
    assert fired(mail("Auto-Submitted: no\r\nPrecedence: first-class\r\n")) is None
    assert fired(meeting_email()) is None


def test_an_automatic_notice_is_not_a_reply_and_goes_to_the_model() -> None:
    # a sign-in alert or a report says auto-generated (RFC 3834): it may matter to the user
    assert fired(mail("Auto-Submitted: auto-generated; owner-email=it@example.com\r\n")) is None
    assert fired(meeting_email()) is None


@pytest.mark.parametrize(
    ("sender", "header"),
    [
        ("Mail Delivery System <MAILER-DAEMON@mail.example.com>", ""),
        ("postmaster@example.com", ""),
        ("Mail System <mail@example.com>", BOUNCE_REPORT),
    ],
)
def test_bounces_notify_even_when_they_say_auto_submitted(sender: str, header: str) -> None:
    assert fired(mail(header + "Auto-Submitted: auto-replied\r\n", sender=sender)) == (
        "bounce",
        "notify",
    )


def test_each_built_in_can_be_changed_or_turned_off_in_prerules() -> None:
    assert fired(mail(NEWSLETTER), bulk="notify") == ("bulk", "notify")
    assert fired(mail(NEWSLETTER), bulk="off") is None
    assert fired(mail("X-Autoreply: yes\r\n"), auto_reply="off") is None
    assert fired(mail(sender="MAILER-DAEMON@mail.example.com"), bounce="ignore") == (
        "bounce",
        "ignore",
    )


def test_prerules_come_from_ambient_toml(ambient_home: Path) -> None:
    (ambient_home / "ambient.toml").write_text('[prerules]\nbulk = "off"\nbounce = "ignore"\n')
    settings, _secrets = load_settings()
    assert settings.prerules == PreRuleSettings(bulk="off", bounce="ignore")


# ---- the user's rules --------------------------------------------------------------------------
def test_the_users_rules_come_before_the_built_ins_and_the_first_match_wins() -> None:
    digest = {"name": "digest", "from": "@digest\\.example$", "decision": "notify"}
    everything = {"name": "all-lists", "header": {"List-Id": ""}, "decision": "ignore"}
    raw = mail(NEWSLETTER, sender="Digest <news@digest.example>")
    assert fired(raw, digest, everything) == ("digest", "notify")
    assert fired(raw, everything, digest) == ("all-lists", "ignore")
    assert fired(mail(NEWSLETTER), digest) == ("bulk", "ignore")  # not from digest: built-in


def test_header_patterns_are_case_insensitive_and_need_the_header() -> None:
    ci = {"name": "ci", "header": {"x-ci-status": "^FAIL"}, "decision": "notify"}
    assert fired(mail("X-CI-Status: failed (3 jobs)\r\n"), ci) == ("ci", "notify")
    assert fired(mail("X-CI-Status: passed\r\n"), ci) is None
    assert fired(mail(), ci) is None  # no such header: no match


def test_every_condition_of_a_rule_must_match() -> None:
    rule = {
        "name": "boss-urgent",
        "from": "^boss@example\\.com$",
        "subject": "urgent",
        "to": "team@example\\.com",
        "decision": "notify",
        "priority": "high",
    }
    urgent = {"sender": "The Boss <boss@example.com>", "subject": "URGENT: numbers"}
    assert fired(mail(to="team@example.com", **urgent), rule) == ("boss-urgent", "notify")
    assert fired(mail(to="me@example.com", **urgent), rule) is None
    assert fired(mail(to="me@example.com", sender="boss@example.com"), rule) is None


def test_to_matches_copies_too() -> None:
    rule = {"name": "team", "to": "^team@example\\.com$", "decision": "ignore"}
    assert fired(mail("Cc: Team <team@example.com>\r\n"), rule) == ("team", "ignore")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"name": "broken", "subject": "fail(", "decision": "notify"},
            "rules[0]: rule 'broken': subject: not a valid regular expression",
        ),
        (
            {"name": "broken", "header": {"X-Foo": "[a-"}, "decision": "notify"},
            "rules[0]: rule 'broken': header.X-Foo: not a valid regular expression",
        ),
        ({"name": "empty", "decision": "ignore"}, "rule 'empty': give at least one of from"),
        (
            {"name": "n", "from": "x", "decision": "notify", "action": {"kind": "write_note"}},
            "rule 'n': an action is drafted only with decision = \"act\"",
        ),
        (
            {"name": "bulk", "from": "x", "decision": "notify"},
            "rule 'bulk': the name is a built-in",
        ),
    ],
)
def test_a_bad_rule_is_a_config_error_naming_it(
    ambient_home: Path, entry: dict[str, Any], message: str
) -> None:
    (ambient_home / "ambient.toml").write_text(f"rules = [{_toml_table(entry)}]\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_settings()


def _toml_table(entry: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in entry.items()) + "}"


def _toml_value(value: Any) -> str:
    return _toml_table(value) if isinstance(value, dict) else json.dumps(value)


def test_two_rules_of_one_name_are_a_config_error(ambient_home: Path) -> None:
    rule = '[[rules]]\nname = "same"\nfrom = "a"\ndecision = "ignore"\n'
    (ambient_home / "ambient.toml").write_text(rule + rule)
    with pytest.raises(ConfigError, match="rule 'same': the name is taken"):
        load_settings()


def test_an_unknown_kind_or_bad_arguments_stop_every_command_naming_the_rule(
    ambient_home: Path, cli: CommandLine
) -> None:
    config = ambient_home / "ambient.toml"
    rule = '[[rules]]\nname = "file-it"\nfrom = "a"\ndecision = "act"\n'
    config.write_text(rule + 'action = { kind = "archive_everything" }\n')
    code, out = cli.run("status")
    assert code == 2
    assert "rules[0]: rule 'file-it': action: unknown kind 'archive_everything'" in out
    config.write_text(rule + 'action = { kind = "write_note", args = { path = "a.md" } }\n')
    code, out = cli.run("status")
    assert code == 2
    assert "rule 'file-it': action: write_note: content: Field required" in out


# ---- deciding without a model ------------------------------------------------------------------
async def test_an_item_a_rule_decides_never_calls_the_model(
    silent_agent, queue, ledger, settings
) -> None:
    processor = AgentProcessor(silent_agent, queue, rules=PreRules())
    ledger.ingest(InboundItem("inbox", "k1", mail(NEWSLETTER, subject="Digest #4")))
    worker = Worker(ledger, processor, settings.worker, "w1")
    await worker.run_until_idle()
    (item,) = ledger.items()
    assert item.state == ItemState.DONE
    decided = json.loads(item.triage_json)
    assert decided["decision"] == "ignore" and decided["priority"] == "low"
    assert decided["reason"].startswith("pre-rule bulk: bulk or list mail (List-Id: Weekly")
    assert "no model was called" in decided["reason"]
    assert decided["summary"] == "Digest #4"
    lineage = Lineage.from_json(item.lineage_json)
    assert lineage is not None and (lineage.pre_rule, lineage.model) == ("bulk", NO_MODEL)
    assert queue.list(item_id=item.id) == []


async def test_an_act_rule_without_an_action_runs_the_agent_with_its_priority(
    make_agent, queue, ledger, settings
) -> None:
    script = Script(respond(triage("notify", "the digest mentions you", priority="low")))
    rule = {"name": "digest-act", "header": {"List-Id": "digest"}, "decision": "act"}
    rule["priority"] = "high"
    processor = AgentProcessor(make_agent(script.model), queue, rules=pre_rules(rule))
    ledger.ingest(InboundItem("inbox", "k1", mail(NEWSLETTER)))
    await Worker(ledger, processor, settings.worker, "w1").run_until_idle()
    (item,) = ledger.items()
    assert len(script.requests) == 1  # the built-in bulk rule did not ignore it
    assert json.loads(item.triage_json)["priority"] == "high"
    assert Lineage.from_json(item.lineage_json).pre_rule is None  # the model decided


async def test_a_rules_drafted_action_is_queued_through_the_policy_gate(
    silent_agent, settings, engine, clock, ledger
) -> None:
    settings.policy.denied_domains = ["evil.example"]
    queue = gated_queue(settings, engine, clock)
    thanks = {"kind": "reply_email", "args": {"body": "Thanks, received."}}
    leak = {"kind": "send_email", "args": {"to": ["x@evil.example"], "subject": "s", "body": "b"}}
    settings.rules = rules(
        {"name": "receipt", "subject": "^invoice", "decision": "act", "action": thanks},
        {"name": "leak", "subject": "^leak", "decision": "act", "action": leak},
    )
    processor = AgentProcessor(silent_agent, queue, rules=PreRules.from_settings(settings))
    ledger.ingest(InboundItem("inbox", "k1", mail(subject="Invoice 42")))
    ledger.ingest(InboundItem("inbox", "k2", mail(subject="Leak this", message_id="<m2@x>")))
    await Worker(ledger, processor, settings.worker, "w1").run_until_idle()
    invoice, leaked = sorted(ledger.items(), key=lambda item: item.id)

    (reply,) = queue.list(item_id=invoice.id)
    assert (reply.kind, reply.status) == ("reply_email", ApprovalStatus.PENDING)
    assert reply.effective_args["to"] == ["dana@example.com"]  # the kind's default: the sender
    assert reply.effective_args["subject"] == "Re: Invoice 42"
    assert reply.rationale.startswith("pre-rule receipt: matched subject")
    assert reply.run_state is None and reply.tool_call_id == "pre-rule:receipt"
    assert invoice.state == ItemState.AWAITING_APPROVAL
    assert Lineage.from_json(reply.lineage_json).pre_rule == "receipt"
    assert Lineage.from_json(invoice.lineage_json).pre_rule == "receipt"

    (blocked,) = queue.list(item_id=leaked.id)
    assert blocked.status == ApprovalStatus.BLOCKED and "denied_domain" in blocked.block_reason


async def test_a_rules_action_that_does_not_fit_the_item_notifies_instead(
    silent_agent, queue, ledger, settings
) -> None:
    thanks = {"kind": "reply_email", "args": {"body": "Thanks."}}
    rule = {"name": "thank", "subject": "hello", "decision": "act", "action": thanks}
    processor = AgentProcessor(silent_agent, queue, rules=pre_rules(rule))
    ledger.ingest(InboundItem("inbox", "k1", mail(sender="nobody")))  # no address to reply to
    await Worker(ledger, processor, settings.worker, "w1").run_until_idle()
    (item,) = ledger.items()
    decided = json.loads(item.triage_json)
    assert item.state == ItemState.DONE and decided["decision"] == "notify"
    assert "pre-rule thank" in decided["reason"] and "could not be drafted" in decided["reason"]


async def test_the_trace_step_records_the_rule(
    silent_agent, queue, ledger, settings, secrets, engine, clock
) -> None:
    tracing = open_tracing(settings, secrets, engine, clock)  # local trace log only
    processor = AgentProcessor(silent_agent, queue, tracing.tracer, rules=PreRules())
    item_id = ledger.ingest(InboundItem("inbox", "k1", mail("X-Autoreply: yes\r\n"))).item_id
    await Worker(ledger, processor, settings.worker, "w1").run_until_idle()
    trace_id = ledger.get(item_id).trace_id
    events = {event.name: event for event in tracing.trace_log.events(trace_id=trace_id)}
    step = events["agent.triage"].detail
    assert step["output"]["pre_rule"]["name"] == "auto_reply"
    assert step["output"]["pre_rule"]["built_in"] is True
    assert step["output"]["lineage"]["pre_rule"] == "auto_reply"
    assert step["output"]["pre_rule"]["decides"] is True
    tracing.close()


def test_non_email_items_match_on_their_sender_and_subject() -> None:
    item = AgentItem.from_raw(
        1, "0" * 32, b'{"body": "x"}', kind="webhook", metadata={"sender": "ci@build.example"}
    )
    rule = {"name": "ci", "from": "@build\\.example$", "decision": "ignore"}
    match = pre_rules(rule).first_match(item, b'{"body": "x"}')
    assert match is not None and match.name == "ci"


# ---- the edges: triage, status, the status bar ---------------------------------------------
@pytest.fixture
def newsletter(tmp_path: Path) -> Path:
    path = tmp_path / "digest.eml"
    path.write_bytes(mail(NEWSLETTER, subject="Digest #9"))
    return path


@pytest.fixture
def failing_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every agent the CLI builds fails the test when it calls its model."""

    def build(runtime: Runtime) -> TriageAgent:
        model = FunctionModel(no_model)
        return TriageAgent(runtime.settings, model, runtime.memory, runtime.clock)

    monkeypatch.setattr(Runtime, "untraced_agent", property(build))


def test_cli_triage_names_the_rule_and_calls_no_model(
    newsletter: Path, failing_model: None, cli: CommandLine
) -> None:
    code, out = cli.run("triage", str(newsletter))
    assert code == 0
    assert "pre-rule: bulk (built-in): bulk or list mail (List-Id: Weekly Digest" in out
    assert "decision: ignore (priority low)" in out
    assert "no model was called" in out and "prompt:" not in out
    code, report = cli.json("triage", str(newsletter))
    assert code == 0 and report["model_called"] is False
    assert report["pre_rule"]["name"] == "bulk" and report["triage"]["decision"] == "ignore"


def test_cli_triage_shows_a_users_rule_and_its_drafted_action(
    ambient_home: Path, newsletter: Path, failing_model: None, cli: CommandLine
) -> None:
    (ambient_home / "ambient.toml").write_text(
        '[[rules]]\nname = "digest-notes"\nsubject = "^digest"\ndecision = "act"\n'
        'action = { kind = "write_note", args = { path = "digests.md", content = "read" } }\n'
    )
    code, out = cli.run("triage", str(newsletter))
    assert code == 0
    assert "pre-rule: digest-notes (your [[rules]]): matched subject" in out
    assert "1. write_note [policy: ok] pre-rule digest-notes" in out
    assert "no model was called" in out


async def test_status_and_the_status_bar_count_items_decided_without_a_model(
    silent_agent, queue, ledger, settings, runtime, cli: CommandLine, clock
) -> None:
    processor = AgentProcessor(silent_agent, queue, rules=PreRules())
    for number, header in enumerate([NEWSLETTER, "Precedence: bulk\r\n", "X-Autoreply: 1\r\n"]):
        raw = mail(header, message_id=f"<m{number}@x>")
        ledger.ingest(InboundItem("inbox", f"k{number}", raw))
    await Worker(ledger, processor, settings.worker, "w1").run_until_idle()
    assert ledger.pre_rule_counts() == {"bulk": 2, "auto_reply": 1}

    code, status = cli.json("status")
    assert code == 0
    assert status["decided_without_model"] == {"total": 3, "by_rule": {"auto_reply": 1, "bulk": 2}}
    code, out = cli.run("status")
    assert "decided without a model (pre-rules): 3 (auto_reply 1, bulk 2)" in out

    snapshot = make_app(runtime).backend.status()
    assert snapshot.decided_by_rules == 3
    assert "by rule 3" in status_text(snapshot, 200).plain


def test_the_status_bar_keeps_the_rule_count_longer_than_the_done_count(clock) -> None:
    snapshot = replace(busy_snapshot(clock), decided_by_rules=40)
    full = status_text(snapshot).plain
    assert full.endswith("done 120 failed 1 by rule 40")
    narrower = status_text(snapshot, len(full) - 1).plain
    assert "by rule 40" in narrower and "done 120" not in narrower


def test_the_count_reads_the_lineage_on_postgres_too(postgres_url: str, clock) -> None:
    engine = open_database(postgres_url)
    ledger = Ledger(engine, clock, WorkerSettings())
    ruled = Lineage(NO_MODEL, "p" * 12, "none", "q" * 12, pre_rule="pg-rule")
    modelled = Lineage("test", "p" * 12, "none", "q" * 12)
    with write_session(engine) as session:
        for key, lineage in (("pg-a", ruled), ("pg-b", ruled), ("pg-c", modelled)):
            raw = mail(message_id=f"<{key}@prerules>")
            item_id = ledger.ingest(InboundItem("pg-prerules", key, raw)).item_id
            row = session.get(Item, item_id)
            row.lineage_json = lineage.to_json()
            session.add(row)
    assert ledger.pre_rule_counts()["pg-rule"] == 2
    engine.dispose()
