from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import ambient.tables  # noqa: F401
from ambient.core.db import make_engine, migrate, table_names


def test_migrating_a_blank_database_gives_exactly_the_models_schema(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    migrate(engine)
    migrate(engine)  # idempotent
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []
    assert {"item", "item_content", "source_state", "heartbeat"} <= set(table_names(engine))


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
