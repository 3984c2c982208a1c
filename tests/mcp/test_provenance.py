"""What an MCP server's read-only tool returned is private text the run saw, as memory is: a
draft that copies it to someone else (another MCP call, a webhook, an email) is warned about
with `private_memory_in_draft`, also after a resumed run, and is never approved by rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tomli_w

from ambient.approvals.tables import ApprovalStatus
from ambient.core.config import Secrets, Settings, load_settings
from ambient.runtime import Runtime
from tests.agent.scripted import Script, call, respond, triage
from tests.mcp.conftest import RunItem, approve, probe_table

PRIVATE = "Dana Example, card ending 4242, renews on 2027-01-31 at the gold rate"
HOOK = "https://hooks.example.com/ambient/crm"
WARNING = "private_memory_in_draft: {verb} private text the agent read (memory or a tool result)"


@pytest.fixture
def mcp_tables(calls: Path) -> list[dict[str, Any]]:
    lookup = {"PROBE_LOOKUP": f"customer {{key}}: {PRIVATE}"}
    return [probe_table(calls, env=lookup, autonomous=["record"])]


@pytest.fixture
def settings_and_secrets(
    ambient_home: Path, mcp_tables: list[dict[str, Any]]
) -> tuple[Settings, Secrets]:
    config = {
        "seed_samples": False,
        "mcp": mcp_tables,
        "policy": {"webhook_allowlist": ["https://hooks.example.com/ambient/"]},
        "autonomy": {
            "enabled": True,
            "streak": 1,
            "kinds": ["mcp_call", "call_webhook", "reply_email"],
        },
    }
    (ambient_home / "ambient.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    return load_settings()


def look_up_then(draft: Any) -> Script:
    return Script(respond(call("mcp_crm_lookup", key="c-42")), respond(draft))


def warnings_of(runtime: Runtime, item_id: int) -> list[str]:
    (row,) = runtime.queue.list(item_id=item_id)
    assert row.status == ApprovalStatus.PENDING and row.decided_by is None
    return row.warnings


@pytest.mark.parametrize(
    ("clean", "copied", "verb"),
    [
        (
            call("mcp_crm_record", text="renewal on Friday", rationale="asked"),
            call("mcp_crm_record", text=f"Note: {PRIVATE}", rationale="asked"),
            "sends",
        ),
        (
            call("call_webhook", url=HOOK, payload={"note": "renewal"}, rationale="asked"),
            call("call_webhook", url=HOOK, payload={"note": PRIVATE}, rationale="asked"),
            "posts",
        ),
        (
            call("reply_email", body="Friday works.", rationale="asked"),
            call("reply_email", body=f"Hi, we have: {PRIVATE}.", rationale="asked"),
            "repeats",
        ),
    ],
    ids=["mcp_call", "call_webhook", "reply_email"],
)
async def test_a_draft_that_copies_a_read_only_result_is_warned_about_and_never_auto_approved(
    runtime: Runtime, run_item: RunItem, clean: Any, copied: Any, verb: str
) -> None:
    # the class is trusted: its one clean draft was approved (streak = 1)
    earned_in, _ = await run_item(Script(respond(clean)), subject="First")
    (earned,) = runtime.queue.list(item_id=earned_in)
    approve(runtime, earned)

    item_id, _ = await run_item(look_up_then(copied), subject="Second")

    (warning,) = warnings_of(runtime, item_id)
    assert warning.startswith(WARNING.format(verb=verb))
    assert "Dana Example, card ending 4242" in warning


async def test_a_draft_that_copies_nothing_it_read_is_not(
    runtime: Runtime, run_item: RunItem
) -> None:
    draft = call("mcp_crm_record", text="a renewal is coming up on Friday", rationale="asked")
    item_id, _ = await run_item(look_up_then(draft))

    assert warnings_of(runtime, item_id) == []


async def test_a_resumed_run_still_counts_what_the_tool_returned_before(
    runtime: Runtime, run_item: RunItem
) -> None:
    script = look_up_then(call("mcp_crm_record", text="renewal on Friday", rationale="asked"))
    item_id, _ = await run_item(script)
    (first,) = runtime.queue.list(item_id=item_id)
    assert first.id is not None and first.warnings == []
    runtime.queue.feedback(
        first.id, shown_hash=first.shown_hash, message="add the card", actor="test"
    )

    script.steps += [
        respond(call("mcp_crm_record", text=f"renewal: {PRIVATE}", rationale="as asked")),
        respond(triage()),
    ]
    assert await runtime.reviser.tick() == 1

    (revised,) = [row for row in runtime.queue.list(item_id=item_id) if row.parent_id]
    assert revised.status == ApprovalStatus.PENDING
    assert [warning.split(":")[0] for warning in revised.warnings] == ["private_memory_in_draft"]
