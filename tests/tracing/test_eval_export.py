"""`ambient eval export`: decided items become dataset items (Langfuse and a local JSONL file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ambient.approvals.tables import Approval, ApprovalStatus, Decision
from ambient.cli import main
from ambient.core.config import Settings
from ambient.core.db import write_session
from ambient.core.ids import trace_id_for_item
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from ambient.core.tables import Item
from ambient.evals.export import export_decisions, run_eval_export
from ambient.runtime import Runtime
from ambient.tracing.assembly import Tracing
from ambient.tracing.redaction import REDACTED
from tests.conftest import FrozenClock
from tests.daemon.mail import email_bytes
from tests.servers.langfuse_receiver import LangfuseProject
from tests.tracing.conftest import SECRET_PASSWORD

REPLY = {"to": ["dana@example.com"], "body": "Friday works."}


def decided_inbox(engine: Engine, clock: FrozenClock, settings: Settings) -> None:
    """Nine items. Decided: approved, edited (+ an ignored action), rejected with feedback,
    triaged notify and ignore with nothing drafted. Not decided: a pending reply, a reply
    revised after feedback and pending again, an approved reply not sent yet, an item not
    triaged yet. A memory proposal never holds its item back."""
    ledger = Ledger(engine, clock, settings.worker)
    ids = [
        ledger.ingest(
            InboundItem("inbox", f"cur/{n}", email_bytes(f"Mail {n}", message_id=f"<{n}@x>"))
        ).item_id
        for n in range(1, 10)
    ]

    def approval(item_id: int, decision: Decision | None, **fields: object) -> Approval:
        status = {
            None: ApprovalStatus.PENDING,
            Decision.APPROVED: ApprovalStatus.EXECUTED,
            Decision.EDITED: ApprovalStatus.EXECUTED,
            Decision.IGNORED: ApprovalStatus.IGNORED,
            Decision.REJECTED: ApprovalStatus.REJECTED,
            Decision.FEEDBACK: ApprovalStatus.FEEDBACK,
        }[decision]
        return Approval(
            item_id=item_id,
            kind=str(fields.pop("kind", "reply_email")),
            args_json=json.dumps(REPLY),
            created_at=clock.now(),
            queued_at=clock.now(),
            decided_at=clock.now() if decision else None,
            decision=decision,
            status=fields.pop("status", status),
            **fields,  # type: ignore[arg-type]
        )

    with write_session(engine) as session:
        for item_id, decision, priority in zip(
            ids,
            ["act"] * 4 + ["notify", "ignore", "act", "act"],
            ["high", "normal", "low", "normal", "normal", "low", "normal", "normal"],
            strict=False,
        ):
            item = session.get(Item, item_id)
            assert item is not None
            item.triage_json = json.dumps(
                {"decision": decision, "reason": "why", "priority": priority, "summary": "s"}
            )
            item.state = ItemState.DONE if decision != "act" else ItemState.AWAITING_APPROVAL
            session.add(item)
        session.add(approval(ids[0], Decision.APPROVED))
        session.add(approval(ids[0], None, kind="memory_update"))
        session.add(
            approval(
                ids[1], Decision.EDITED, edited_args_json=json.dumps({**REPLY, "body": "Fri!"})
            )
        )
        session.add(approval(ids[1], Decision.IGNORED, kind="add_task"))
        session.add(
            approval(ids[2], Decision.REJECTED, decision_message=f"never share {SECRET_PASSWORD}")
        )
        session.add(approval(ids[3], None))
        session.add(approval(ids[6], Decision.FEEDBACK, revised_at=clock.now()))
        session.add(approval(ids[6], None))  # the revision, waiting for the human
        session.add(approval(ids[7], Decision.APPROVED, status=ApprovalStatus.APPROVED))


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_decided_items_become_langfuse_dataset_items_and_a_jsonl_file(
    tracing: Tracing,
    langfuse_project: LangfuseProject,
    tracing_settings: Settings,
    engine: Engine,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    decided_inbox(engine, clock, tracing_settings)
    path = tmp_path / "eval.jsonl"

    report = export_decisions(
        engine, tracing.redactor, dataset="decisions", path=path, langfuse=tracing.langfuse
    )

    assert (report.examples, report.uploaded) == (5, 5)
    received = langfuse_project.received
    assert list(received.datasets) == ["decisions"]
    items = sorted(received.dataset_items.values(), key=lambda item: item["metadata"]["item_id"])
    assert [item["sourceTraceId"] for item in items] == [
        trace_id_for_item("inbox", f"cur/{n}") for n in (1, 2, 3, 5, 6)
    ]
    assert items[0]["input"]["subject"] == "Mail 1"
    assert items[0]["expectedOutput"] == {
        "triage": {"decision": "act", "priority": "high"},
        "actions": [{"kind": "reply_email", "decision": "approved", "arguments": REPLY}],
        "declined": [],
    }
    assert items[1]["expectedOutput"] == {
        "triage": {"decision": "act", "priority": "normal"},
        "actions": [
            {
                "kind": "reply_email",
                "decision": "edited",
                "arguments": {**REPLY, "body": "Fri!"},
                "drafted_arguments": REPLY,
            }
        ],
        "declined": [{"kind": "add_task", "decision": "ignored", "arguments": REPLY}],
    }
    (declined,) = items[2]["expectedOutput"]["declined"]
    assert declined["feedback"] == f"never share {REDACTED}"
    assert items[2]["metadata"]["decisions"] == ["rejected"]
    assert [item["expectedOutput"] for item in items[3:]] == [
        {"triage": {"decision": "notify", "priority": "normal"}, "actions": [], "declined": []},
        {"triage": {"decision": "ignore", "priority": "low"}, "actions": [], "declined": []},
    ]
    local = read_jsonl(path)
    assert [row["id"] for row in local] == [item["id"] for item in items]
    assert [row["expected_output"] for row in local] == [item["expectedOutput"] for item in items]

    export_decisions(
        engine, tracing.redactor, dataset="decisions", path=path, langfuse=tracing.langfuse
    )
    assert len(received.dataset_items) == 5  # exporting again updates the same items


def test_only_decided_items_are_exported_each_with_its_triage_and_decisions(
    settings: Settings, engine: Engine, clock: FrozenClock, runtime: Runtime
) -> None:
    decided_inbox(engine, clock, settings)

    report = run_eval_export(runtime.engine, runtime.tracing, settings, dataset="decided")

    rows = read_jsonl(report.path)
    # not 4 (a pending reply), 7 (feedback, its revision pending), 8 (approved, not sent), 9
    assert [row["metadata"]["item_id"] for row in rows] == [1, 2, 3, 5, 6]
    assert [row["expected_output"]["triage"]["decision"] for row in rows] == [
        "act",
        "act",
        "act",
        "notify",
        "ignore",
    ]
    assert [row["metadata"]["decisions"] for row in rows] == [
        ["approved"],
        ["edited", "ignored"],
        ["rejected"],
        [],
        [],
    ]


def test_with_tracing_off_the_export_writes_only_the_local_file(
    settings: Settings, engine: Engine, clock: FrozenClock, runtime: Runtime
) -> None:
    decided_inbox(engine, clock, settings)

    report = run_eval_export(runtime.engine, runtime.tracing, settings, dataset="offline")

    assert (report.examples, report.uploaded, report.langfuse_url) == (5, 0, None)
    assert report.path == settings.data_dir / "eval" / "offline.jsonl"
    assert len(read_jsonl(report.path)) == 5


def test_the_eval_export_command_reports_with_stable_json_keys(
    settings: Settings, engine: Engine, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    decided_inbox(engine, clock, settings)

    assert main(["eval", "export", "--dataset", "cli", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"dataset", "examples", "path", "uploaded", "langfuse_url", "tracing"}
    assert (report["dataset"], report["examples"], report["uploaded"]) == ("cli", 5, 0)
    assert "tracing to Langfuse is off" in report["tracing"]
