"""The database: SQLite in WAL mode by default, PostgreSQL by URL; migrations at start-up."""

from __future__ import annotations

import ast
import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from ambient.core.clock import utc
from ambient.core.errors import StorageError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parents[1] / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


def enum_values(enum: type[StrEnum]) -> list[str]:
    """Store enums by their values ("awaiting_approval"), the words a user sees."""
    return [member.value for member in enum]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, busy_timeout_seconds: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> Engine:
    """An engine for the URL; SQLite gets WAL, a busy timeout, foreign keys, explicit BEGINs."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": busy_timeout_seconds, "check_same_thread": False},
            poolclass=NullPool if database == ":memory:" else None,
        )
        _configure_sqlite(engine, int(busy_timeout_seconds * 1000))
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN so we can choose IMMEDIATE per transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction takes the write lock up front (SQLite: BEGIN IMMEDIATE).

    A SQLite transaction that reads and then writes fails at once with "database is locked"
    under a second writer, busy timeout or not, unless it starts with BEGIN IMMEDIATE. Use this
    for every read-modify-write (claims, decisions). Commits on success, rolls back on error.
    """
    # Within one process, writers queue on a lock instead of in SQLite's busy handler, which
    # sleeps in steps of milliseconds and would cap throughput under concurrency.
    lock = _process_write_lock(engine) if is_sqlite(engine) else nullcontext()
    with lock, engine.connect() as connection:
        if is_sqlite(engine):
            connection = connection.execution_options(sqlite_begin="IMMEDIATE")
        with Session(bind=connection, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


_migrate_lock = threading.Lock()
_write_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_write_locks_guard = threading.Lock()


def _process_write_lock(engine: Engine) -> threading.Lock:
    with _write_locks_guard:
        lock = _write_locks.get(engine)
        if lock is None:
            lock = _write_locks[engine] = threading.Lock()
        return lock


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@cache
def schema_heads() -> frozenset[str] | None:
    """The newest revisions (Alembic's heads) of ambient's migrations, read from each revision
    file's own ``revision`` and ``down_revision`` lines: no revision not revised by another.
    None when a file does not state them as plain strings (then Alembic reads the files)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        stated: dict[str, Any] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    try:
                        stated[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        return None
        revision, down = stated.get("revision"), stated.get("down_revision")
        if not isinstance(revision, str):
            return None
        downs = (down,) if isinstance(down, str) else (down or ())
        if not all(isinstance(one, str) for one in downs):
            return None
        revisions.add(revision)
        revised.update(downs)
    return frozenset(revisions - revised) or None


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is at every head already (then there is nothing to migrate)."""
    heads = schema_heads()
    if heads is None:
        return False
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        stamped = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        return frozenset(stamped.scalars()) == heads


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (every migration head)."""
    try:
        # Most starts find the schema current: a look at alembic_version says so without
        # importing Alembic and every revision file (some 100 ms and 10 MB that the TUI's
        # first paint and the idle daemon's memory would pay for).
        if not schema_is_current(engine):
            _upgrade(engine)
    except OperationalError as error:
        raise StorageError(
            f"{engine.url.render_as_string()}: cannot migrate: {error.orig}"
        ) from error


def _upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's command API is not thread-safe; several daemons migrating one PostgreSQL
    # database at start-up queue on an advisory lock held for the transaction.
    with _migrate_lock, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7406915218)")
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def open_database(url: str, busy_timeout_seconds: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> Engine:
    """Engine plus migrations, with a clear error when the database cannot be reached."""
    try:
        engine = make_engine(url, busy_timeout_seconds)
        migrate(engine)
    except OperationalError as error:
        raise StorageError(f"database {url}: {error.orig}") from error
    return engine
