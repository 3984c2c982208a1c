"""Shared fixtures: an isolated AMBIENT_HOME per test, no model requests, a frozen clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic_ai import models
from sqlalchemy import Engine

from ambient.config import Secrets, Settings, load_settings
from ambient.db import open_database

models.ALLOW_MODEL_REQUESTS = False

pytest_plugins = ["tests.servers.fixtures"]


class FrozenClock:
    """A clock that only moves when the test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@pytest.fixture(autouse=True)
def ambient_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point everything at a temp dir so a developer's own config never leaks into a test."""
    home = tmp_path / "ambient-home"
    home.mkdir()
    for name in ("AMBIENT_CONFIG_DIR", "AMBIENT_DATA_DIR", "AMBIENT_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AMBIENT_HOME", str(home))
    monkeypatch.setenv("AMBIENT_MODEL", "test")
    for name in (
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        "LANGFUSE_BASE_URL",
        "LANGFUSE_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings_and_secrets(ambient_home: Path) -> tuple[Settings, Secrets]:
    return load_settings()


@pytest.fixture
def settings(settings_and_secrets: tuple[Settings, Secrets]) -> Settings:
    return settings_and_secrets[0]


@pytest.fixture
def secrets(settings_and_secrets: tuple[Settings, Secrets]) -> Secrets:
    return settings_and_secrets[1]


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = open_database(settings.resolved_database_url)
    yield engine
    engine.dispose()
