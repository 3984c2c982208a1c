from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

import ambient.core.db
import ambient.tables  # noqa: F401
from ambient.core.db import (
    MIGRATIONS_DIR,
    make_engine,
    migrate,
    schema_heads,
    schema_is_current,
    table_names,
)
from ambient.core.message import MatchKeys, thread_key


def test_migrating_a_blank_database_gives_exactly_the_models_schema(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    migrate(engine)
    migrate(engine)  # idempotent
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []
    assert {"item", "item_content", "source_state", "heartbeat"} <= set(table_names(engine))


def test_the_heads_read_from_the_revision_files_are_alembics() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert schema_heads() == frozenset(ScriptDirectory.from_config(config).get_heads())


def test_a_database_at_every_head_is_not_migrated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'current.db'}")
    assert not schema_is_current(engine)  # blank
    migrate(engine)
    assert schema_is_current(engine)

    def no_upgrade(engine: Engine) -> None:
        raise AssertionError("Alembic ran on a current database")

    monkeypatch.setattr(ambient.core.db, "_upgrade", no_upgrade)
    migrate(engine)  # at every head: Alembic is not even imported


def test_a_database_behind_a_head_is_migrated(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'behind.db'}")
    _upgrade(engine, "0011_item_sender_columns")
    assert not schema_is_current(engine)
    migrate(engine)
    assert schema_is_current(engine)
    assert "review" in {column["name"] for column in inspect(engine).get_columns("item")}


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _upgrade(engine: Engine, *revisions: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        for revision in revisions:
            command.upgrade(config, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_thread_keys_of_the_old_subject_rule_are_recomputed_by_sender(blank_engine: Engine) -> None:
    engine = blank_engine
    _upgrade(engine, "0004_tracing", "0005_memory", "0006_approval_provenance")
    rows = [  # (subject, sender, thread key as the old rule wrote it)
        ("Re: Lunch", "Alice <Alice@Example.com>", "subject:lunch"),
        ("Invoice", "bob@example.com", "subject:invoice"),
        ("Invoice", "carol@example.com", "subject:invoice"),
        ("", "dave@example.com", "subject:"),
        ("Hello", "", "subject:hello"),
        ("Plans", "erin@example.com", "subject:erin@example.com:plans"),  # the new rule's
        ("Re: x", "frank@example.com", "<parent@example.com>"),
        ("note", "", None),
    ]
    with engine.begin() as connection:
        for number, (subject, sender, key) in enumerate(rows):
            connection.execute(
                text(
                    "INSERT INTO item (source, key, kind, state, subject, sender, thread_key, "
                    "created_at, updated_at, attempts, metadata_json) VALUES ('inbox', :key, "
                    "'email', 'done', :subject, :sender, :thread_key, :now, :now, 0, '{}')"
                ),
                {
                    "key": f"m{number}",
                    "subject": subject,
                    "sender": sender,
                    "thread_key": key,
                    "now": datetime(2026, 11, 24, 9, tzinfo=UTC),
                },
            )

    migrate(engine)

    with engine.connect() as connection:
        keys = [
            key for (key,) in connection.execute(text("SELECT thread_key FROM item ORDER BY id"))
        ]
    assert keys == [
        "subject:alice@example.com:lunch",
        "subject:bob@example.com:invoice",
        "subject:carol@example.com:invoice",  # two people's "Invoice" are two threads now
        None,  # an empty subject is no thread
        None,  # nor is a message without a sender
        "subject:erin@example.com:plans",
        "<parent@example.com>",
        None,
    ]
    assert keys[0] == thread_key([], [], None, "Lunch", "alice@example.com")  # Alice's next mail


def test_stored_items_get_their_sender_address_domain_and_topic_from_their_columns(
    blank_engine: Engine,
) -> None:
    engine = blank_engine
    _upgrade(engine, "0008_lineage")
    rows = [  # (subject, sender)
        ("Re: AW:  Budget   Plans", '"Dana, CFO" <Dana@Example.COM>'),
        ("Hello", "bob@gmail.com"),
        ("", "nobody"),
        ("Fwd: " + "long " * 100, ""),
    ]
    with engine.begin() as connection:
        for number, (subject, sender) in enumerate(rows):
            connection.execute(
                text(
                    "INSERT INTO item (source, key, kind, state, subject, sender, "
                    "created_at, updated_at, attempts, metadata_json) VALUES ('inbox', :key, "
                    "'email', 'done', :subject, :sender, :now, :now, 0, '{}')"
                ),
                {
                    "key": f"m{number}",
                    "subject": subject,
                    "sender": sender,
                    "now": datetime(2026, 11, 24, 9, tzinfo=UTC),
                },
            )

    migrate(engine)

    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT sender_address, sender_domain, topic FROM item ORDER BY id")
        ).all()
    assert [tuple(row) for row in stored] == [
        ("dana@example.com", "example.com", "budget plans"),
        ("bob@gmail.com", "gmail.com", "hello"),
        (None, None, None),
        (None, None, ("long " * 60).strip()),  # cut to the column's 300 characters
    ]
    assert stored[0][2] == MatchKeys.of("dana@example.com", "Budget  plans").topic  # as new mail
