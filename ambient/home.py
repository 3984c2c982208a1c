"""`ambient init`: the config and data dirs, commented defaults, the inbox, memory, database.

Idempotent: a second run changes nothing and says so; nothing a user wrote is overwritten.
"""

from __future__ import annotations

import mailbox
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ambient.core.config import Settings
from ambient.memory.store import MemoryStore
from ambient.sources.maildir import deliver

TEMPLATES = resources.files("ambient") / "templates"


@dataclass
class InitReport:
    created: list[Path] = field(default_factory=list)
    existing: list[Path] = field(default_factory=list)
    samples: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created) or self.samples > 0


def _write_once(path: Path, text: str, report: InitReport, mode: int = 0o644) -> None:
    if path.exists():
        report.existing.append(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    report.created.append(path)


def _make_dir(path: Path, report: InitReport) -> None:
    if path.is_dir():
        report.existing.append(path)
        return
    path.mkdir(parents=True, exist_ok=True)
    report.created.append(path)


def sample_messages() -> list[bytes]:
    folder = TEMPLATES / "samples"
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".eml"))
    return [(folder / name).read_bytes() for name in names]


def initialise(
    settings: Settings, memory: MemoryStore, open_database: Callable[[], object], *, samples: bool
) -> InitReport:
    """Create everything ambient needs; `samples` drops example emails into a new inbox.

    The runtime's parts do their share: `memory` seeds its folder, `open_database` creates and
    migrates the database."""
    report = InitReport()
    _make_dir(settings.config_dir, report)
    _make_dir(settings.data_dir, report)
    _write_once(settings.config_file, (TEMPLATES / "ambient.toml").read_text("utf-8"), report)
    _write_once(
        settings.config_dir / ".env.example", (TEMPLATES / "env.example").read_text("utf-8"), report
    )
    inbox_is_new = not (settings.maildir_path / "new").is_dir()
    if inbox_is_new:
        mailbox.Maildir(settings.maildir_path, create=True).close()
        report.created.append(settings.maildir_path)
    else:
        report.existing.append(settings.maildir_path)
    for folder in (settings.notes_dir, settings.spool_dir):
        _make_dir(folder, report)
    report.created.extend(memory.seed())
    database_existed = settings.database_url is not None or settings.database_path.exists()
    open_database()
    if not database_existed:
        report.created.append(settings.database_path)
    if samples and inbox_is_new:
        for raw in sample_messages():
            deliver(settings.maildir_path, raw)
            report.samples += 1
    return report
