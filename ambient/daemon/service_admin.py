"""`ambient service install / uninstall / status`: the user unit on disk, and daemon health.

Status works without systemd: health comes from the heartbeat the daemon writes to the database
(:func:`ambient.daemon.health.read_health`); systemd's own view is added when a user manager
answers.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ambient.core.clock import Clock
from ambient.core.config import Settings
from ambient.core.errors import ConfigError
from ambient.daemon.health import DaemonHealth, read_health
from ambient.daemon.systemd_unit import (
    UNIT_NAME,
    find_executable,
    render_unit,
    spec_for,
    user_unit_dir,
    verify_unit,
    writable_paths,
)

__all__ = ["install", "service_status", "uninstall", "user_unit_dir"]

ENABLE_COMMANDS = [
    "systemctl --user daemon-reload",
    f"systemctl --user enable --now {UNIT_NAME}",
    'loginctl enable-linger "$USER"   # keep it running while you are logged out',
    f"journalctl --user -u {UNIT_NAME} -f",
]
DISABLE_COMMANDS = [f"systemctl --user disable --now {UNIT_NAME}", "systemctl --user daemon-reload"]


@dataclass(frozen=True)
class InstallResult:
    path: Path
    changed: bool
    executable: Path
    warnings: list[str]
    commands: list[str]


@dataclass(frozen=True)
class UninstallResult:
    path: Path
    removed: list[Path]
    commands: list[str]


def install(settings: Settings, unit_dir: Path, *, executable: Path | None = None) -> InstallResult:
    """Write the user unit (creating the data dir it needs); say what else to run."""
    executable = executable or find_executable()
    if not executable.is_absolute():
        raise ConfigError(f"service: the executable must be an absolute path, got {executable}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    text = render_unit(spec_for(settings, executable))
    path = unit_dir / UNIT_NAME
    changed = not path.is_file() or path.read_text(encoding="utf-8") != text
    if changed:
        unit_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{UNIT_NAME}.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    checked = verify_unit(path)
    warnings = [line for line in checked[1].splitlines() if line] if checked else []
    if checked and checked[0] != 0 and not warnings:
        warnings = [f"systemd-analyze verify exited with {checked[0]}"]
    warnings += [
        f"{folder} is under {tmp}: the service's private /tmp (PrivateTmp=yes) hides it"
        for folder in writable_paths(settings)
        for tmp in (Path("/tmp"), Path("/var/tmp"))
        if folder.is_relative_to(tmp)
    ]
    return InstallResult(path, changed, executable, warnings, list(ENABLE_COMMANDS))


def uninstall(unit_dir: Path) -> UninstallResult:
    """Remove the unit and its enablement link; the running service is left to systemctl."""
    path = unit_dir / UNIT_NAME
    removed: list[Path] = []
    link = unit_dir / "default.target.wants" / UNIT_NAME
    if link.is_symlink():
        link.unlink()
        removed.append(link)
    if path.exists() or path.is_symlink():
        path.unlink()
        removed.append(path)
    commands = DISABLE_COMMANDS if removed else []
    return UninstallResult(path, removed, list(commands))


def systemd_state(unit: str = UNIT_NAME) -> str | None:
    """``systemctl --user is-active``: "active", "inactive", "failed"…; None without systemd."""
    tool = shutil.which("systemctl")
    if tool is None:
        return None
    try:
        result = subprocess.run(
            [tool, "--user", "is-active", unit],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    state = result.stdout.strip()
    # no user manager to ask (a container, an ssh session without lingering): unknown
    return state if state and "\n" not in state and "bus" not in result.stderr.lower() else None


@dataclass(frozen=True)
class ServiceStatus:
    unit_path: Path
    installed: bool
    systemd: str | None  # None: no user manager to ask
    health: DaemonHealth

    def as_json(self) -> dict[str, Any]:
        return {
            "unit_path": str(self.unit_path),
            "installed": self.installed,
            "systemd": self.systemd,
            "alive": self.health.alive,
            "process": self.health.process,
            "last_heartbeat": self.health.beat_at,
            "started_at": self.health.started_at,
            "model": self.health.model,
            "status": self.health.status,
        }


def service_status(engine: Engine, clock: Clock, unit_dir: Path) -> ServiceStatus:
    path = unit_dir / UNIT_NAME
    return ServiceStatus(path, path.is_file(), systemd_state(), read_health(engine, clock))
