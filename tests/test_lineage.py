"""A decision's lineage: the value stored with it, the policy's version, rows from before it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlmodel import Session

from ambient import __version__
from ambient.approvals.policy import PolicyGate
from ambient.approvals.tables import Approval
from ambient.core.config import PolicySettings
from ambient.core.db import MIGRATIONS_DIR, make_engine, migrate
from ambient.core.lineage import Lineage, describe_stored, first_stored, stored_dict
from ambient.core.tables import Item
from tests.conftest import CommandLine

LINEAGE = Lineage(
    model="openai:gpt-4o",
    prompt_version="3f2a9c01d4e5",
    memory_commit="9c1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e+edits",
    policy_version="7d41aa02bb13",
    examples=(12, 40),
)


def test_a_lineage_round_trips_through_its_json() -> None:
    stored = LINEAGE.to_json()
    assert Lineage.from_json(stored) == LINEAGE
    assert json.loads(stored) == {
        "model": "openai:gpt-4o",
        "prompt_version": "3f2a9c01d4e5",
        "memory_commit": "9c1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e+edits",
        "policy_version": "7d41aa02bb13",
        "pre_rule": None,
        "examples": [12, 40],
        "ambient_version": __version__,
    }


def test_describe_is_one_short_line_for_people() -> None:
    line = LINEAGE.describe()
    assert line == (
        "model openai:gpt-4o · prompt 3f2a9c01 · memory 9c1e2f3a+edits · policy 7d41aa02 · "
        f"ambient {__version__} · examples #12,#40"
    )
    assert "\n" not in line
    fired = Lineage("test", "p" * 12, "none", "q" * 12, pre_rule="list-unsubscribe")
    assert fired.describe().endswith("· pre-rule list-unsubscribe")


def test_rows_from_before_lineage_read_as_unknown_and_never_crash() -> None:
    for stored in (None, "", "not json", "[1, 2]", '{"model": "x"}', '{"examples": "ab"}'):
        assert Lineage.from_json(stored) is None
        assert stored_dict(stored) is None
        assert describe_stored(stored) == "unknown"
    assert first_stored(None, "garbage", LINEAGE.to_json()) == LINEAGE.to_dict()
    assert first_stored(None, None) is None


def test_a_lineage_from_a_newer_version_with_more_fields_still_reads() -> None:
    values = {**LINEAGE.to_dict(), "retrieval": "v2"}
    assert Lineage.from_json(json.dumps(values)) == LINEAGE


def test_the_policy_version_follows_the_policy_settings_and_rule_actions(tmp_path: Path) -> None:
    def version(**settings: object) -> str:
        return PolicyGate(PolicySettings(**settings), tmp_path / "notes").version  # type: ignore[arg-type]

    default = version()
    assert default == version() and len(default) == 12
    assert version(max_recipients=3) != default
    assert version(denied_domains=["evil.example"]) != default
    assert version(rules={"send_outside_thread": "block"}) != default
    # a rule set to what it does anyway is the same effective policy
    (rule, action) = next(iter(PolicyGate(PolicySettings(), tmp_path).rules.items()))
    assert version(rules={rule: action}) == default


def test_migrating_keeps_old_rows_with_an_unknown_lineage(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    before = ["0004_tracing", "0005_memory", "0006_approval_provenance"]
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        for revision in [*before, "0007_thread_keys_by_sender"]:
            command.upgrade(config, revision)
        connection.execute(
            text(
                "INSERT INTO item (source, key, kind, state, subject, sender, created_at, "
                "updated_at, attempts, metadata_json) VALUES ('inbox', 'old', 'email', 'done', "
                "'Hello', 'dana@example.com', :now, :now, 0, '{}')"
            ),
            {"now": datetime(2026, 11, 24, 9, tzinfo=UTC)},
        )

    migrate(engine)

    with Session(engine) as session:
        item = session.get(Item, 1)
        assert item is not None and item.lineage_json is None
        assert describe_stored(item.lineage_json) == "unknown"
    for table in ("item", "approval"):
        assert "lineage_json" in {column["name"] for column in inspect(engine).get_columns(table)}
    engine.dispose()


def test_approvals_show_says_unknown_for_a_row_without_lineage(
    cli: CommandLine, engine, clock
) -> None:
    now = clock.now()
    with Session(engine) as session:
        item = Item(source="inbox", key="k", created_at=now, updated_at=now)
        session.add(item)
        session.flush()
        assert item.id is not None
        row = Approval(
            item_id=item.id, kind="reply_email", args_json="{}", created_at=now, queued_at=now
        )
        session.add(row)
        session.commit()
        approval_id = row.id
    code, shown = cli.json("approvals", "show", str(approval_id))
    assert code == 0 and shown["lineage"] is None
    code, out = cli.run("approvals", "show", str(approval_id))
    assert "lineage: unknown" in out
