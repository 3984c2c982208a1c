"""Shared fixtures: an isolated AMBIENT_HOME per test, no model requests, a frozen clock."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import models
from sqlalchemy import Engine

from ambient.core.config import Secrets, Settings, load_settings
from ambient.core.db import open_database
from ambient.runtime import Runtime
from tests.clock_shift.check import child_seconds_ahead, clock_shift_problem, seconds_ahead

models.ALLOW_MODEL_REQUESTS = False

pytest_plugins = ["tests.servers.fixtures"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """The shifted-clock pass (AMBIENT_TEST_CLOCK_SHIFT_DAYS) stops at once unless this process
    and a child started with the tests' environment both run that far ahead."""
    days = os.environ.get("AMBIENT_TEST_CLOCK_SHIFT_DAYS")
    if not days:
        return
    try:
        shift = float(days)
    except ValueError:
        message = f"AMBIENT_TEST_CLOCK_SHIFT_DAYS={days!r} is not a number of days"
        pytest.exit(message, returncode=pytest.ExitCode.USAGE_ERROR)
    problem = clock_shift_problem(shift, seconds_ahead(), child_seconds_ahead(child_environment()))
    if problem is not None:
        pytest.exit(problem, returncode=pytest.ExitCode.USAGE_ERROR)


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
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "DBUS_SESSION_BUS_ADDRESS",  # alerts' desktop = "auto" must not reach your desktop
    ):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


REPO = Path(__file__).resolve().parents[1]


def child_environment(**extra: str) -> dict[str, str]:
    """The environment for a Python child process: this repository importable, and whatever
    was already on PYTHONPATH kept (the shifted-clock pass of scripts/test puts its hook there,
    so children see the same wall clock as the test)."""
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(paths)}


class CommandLine:
    """`ambient …` run in this process on the test's clock, its output captured."""

    def __init__(self, capsys: pytest.CaptureFixture[str], clock: FrozenClock) -> None:
        self.capsys = capsys
        self.clock = clock

    def run(self, *argv: str) -> tuple[int, str]:
        from ambient.cli import main

        code = main(list(argv), clock=self.clock)
        captured = self.capsys.readouterr()
        return code, captured.out + captured.err

    def json(self, *argv: str) -> tuple[int, Any]:
        code, out = self.run(*argv, "--json")
        return code, json.loads(out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], clock: FrozenClock) -> CommandLine:
    return CommandLine(capsys, clock)


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


@pytest.fixture
def runtime(
    settings: Settings, secrets: Secrets, clock: FrozenClock, engine: Engine
) -> Iterator[Runtime]:
    """The process's parts as the CLI, the TUI and the daemon build them, on the test's clock
    and database."""
    runtime = Runtime(settings, secrets, clock, engine=engine)
    yield runtime
    runtime.close()
