"""The CLI and the TUI open the database with the configured busy timeout, as the daemon does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from ambient.cli import main
from ambient.core import db
from ambient.tui.app import AmbientApp


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> list[Engine]:
    """Every engine this process makes from now on (the real ones, only recorded)."""
    made: list[Engine] = []
    make_engine = db.make_engine

    def recorded(url: str, *args: Any, **kwargs: Any) -> Engine:
        engine = make_engine(url, *args, **kwargs)
        made.append(engine)
        return engine

    monkeypatch.setattr(db, "make_engine", recorded)
    monkeypatch.setenv("AMBIENT_DATABASE_BUSY_TIMEOUT_SECONDS", "2.5")
    return made


def busy_timeout_ms(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one())


@pytest.mark.parametrize(
    "command",
    [
        ["init", "--no-samples"],
        ["status", "--json"],
        ["items", "list", "--json"],
        ["approvals", "list", "--json"],
        ["log", "--json"],
        ["eval", "export", "--json"],
    ],
    ids=" ".join,
)
def test_a_cli_command_opens_the_database_with_the_configured_busy_timeout(
    engines: list[Engine], command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--no-samples"]) == 0
    engines.clear()
    assert main(command) == 0, capsys.readouterr()
    assert engines, "the command opened no database"
    assert [busy_timeout_ms(engine) for engine in engines] == [2500] * len(engines)


def test_the_tui_opens_the_database_with_the_configured_busy_timeout(
    engines: list[Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["init", "--no-samples"]) == 0
    engines.clear()
    shown: list[Engine] = []
    run: Callable[[AmbientApp], None] = lambda app: shown.append(app.backend.engine)  # noqa: E731
    monkeypatch.setattr(AmbientApp, "run", run)  # no terminal here: the app is only built
    assert main(["tui"]) == 0
    assert shown and [busy_timeout_ms(engine) for engine in shown] == [2500]
    assert [busy_timeout_ms(engine) for engine in engines] == [2500] * len(engines)
