"""The systemd user unit: rendered for this user's install, installed, removed, inspected.

``ambient service install`` writes ``~/.config/systemd/user/ambient.service`` with this venv's
``ambient`` binary, the config and data dirs of the current settings and the config dir's
``.env``; ``systemd/ambient.service`` in the repository is the same renderer's output for a
``pipx``-style install (``%h/.local/bin/ambient``, XDG dirs), kept in sync by a test.

The daemon side of the contract lives in :mod:`ambient.daemon.runner`: ``Type=notify`` readiness,
``WATCHDOG=1`` pings at half of ``WatchdogSec=``, a drain on SIGTERM bounded so it ends before
``TimeoutStopSec=``, a reload on SIGHUP (``ExecReload=``).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ambient.core.config import Settings
from ambient.core.errors import ConfigError

UNIT_NAME = "ambient.service"
WATCHDOG_SECONDS = 60
START_TIMEOUT_SECONDS = 180
RESTART_SECONDS = 5
START_LIMIT_INTERVAL_SECONDS = 300
START_LIMIT_BURST = 5
STOP_MARGIN_SECONDS = 15

# Sandboxing that leaves ambient working: network (IMAP, SMTP, model APIs, Langfuse), its data
# dir writable, git for the memory history, llama-cpp for the bundled model (which allocates no
# writable+executable memory: checked by tests/daemon/test_systemd_unit.py).
HARDENING = """\
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateMounts=yes
PrivateDevices=yes
PrivateUsers=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
KeyringMode=private
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
UMask=0077
"""

SHIPPED_HEADER = """\
# ambient as a systemd *user* service (the default for a personal agent).
#
#   ambient service install      writes this unit with the paths of your own install
#                                (venv binary, config and data dirs) to
#                                ~/.config/systemd/user/ambient.service; prefer it to copying.
#   systemctl --user daemon-reload && systemctl --user enable --now ambient.service
#   loginctl enable-linger "$USER"   keeps it running while you are logged out
#   journalctl --user -u ambient.service -f
#
# This copy assumes `pipx install ambient` (%h/.local/bin/ambient) and the XDG dirs
# (~/.config/ambient, ~/.local/share/ambient; run `ambient init` first so they exist).
#
# System-unit variant (a dedicated account, started at boot), /etc/systemd/system/ambient.service:
#   keep [Service] as below, and change:
#     User=ambient
#     Group=ambient
#     ExecStart=/opt/ambient/venv/bin/ambient run        (venv and its Python outside /home)
#     Environment=AMBIENT_CONFIG_DIR=/etc/ambient AMBIENT_DATA_DIR=/var/lib/ambient
#     EnvironmentFile=-/etc/ambient/.env                  (mode 0600, owned by ambient)
#     StateDirectory=ambient                              (creates /var/lib/ambient)
#     ReadWritePaths=                                     (drop: StateDirectory= is writable)
#     ProtectHome=yes                                     (the service needs no home dir)
#     PrivateUsers=yes stays; add RemoveIPC=yes
#     After=network-online.target and Wants=network-online.target in [Unit]
#     WantedBy=multi-user.target in [Install]
#   then: systemctl daemon-reload && systemctl enable --now ambient.service
"""


def unit_word(text: str) -> str:
    """One word of a unit-file list setting: specifiers and quotes escaped, quoted if needed."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"' if any(char.isspace() for char in text) or '"' in text else escaped


def unit_command_word(text: str) -> str:
    """A word of ExecStart=: as unit_word, and ``$`` is not a variable reference."""
    return unit_word(text).replace("$", "$$")


def unit_path(path: Path) -> str:
    """A whole-line path setting (EnvironmentFile=, WorkingDirectory=): only specifiers escaped."""
    return str(path).replace("%", "%%")


@dataclass(frozen=True)
class UnitSpec:
    """The values of one rendered unit, already in unit-file syntax."""

    exec_start: str
    env_file: str
    writable: list[str]
    stop_timeout_seconds: int
    environment: dict[str, str] = field(default_factory=dict)
    working_directory: str | None = None
    header: str = ""


def stop_timeout_seconds(settings: Settings) -> int:
    """TimeoutStopSec=: the worker's drain, then running jobs' drain, then closing."""
    return math.ceil(2 * settings.worker.drain_seconds) + STOP_MARGIN_SECONDS


def writable_paths(settings: Settings) -> list[Path]:
    """The data dir, and what ambient must write outside it (owned Maildirs, spools, SQLite)."""
    data_dir = settings.data_dir
    paths = [data_dir]
    for source in settings.sources:
        if source.type == "maildir" and source.owned or source.type == "spool":
            paths.append(settings.source_path(source))
    url = settings.resolved_database_url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        paths.append(Path(url.removeprefix("sqlite:///")).parent)
    unique: list[Path] = []
    for path in paths:
        path = Path(os.path.abspath(path.expanduser()))
        if path != data_dir and path.is_relative_to(data_dir) or path in unique:
            continue
        unique.append(path)
    return unique


def spec_for(settings: Settings, executable: Path) -> UnitSpec:
    """The unit for these settings and this ``ambient`` binary."""
    paths = writable_paths(settings)
    return UnitSpec(
        exec_start=f"{unit_command_word(str(executable))} run",
        env_file=unit_path(settings.env_file),
        # the data dir is created by install; other paths may come and go (a mounted Maildir)
        writable=[unit_word(str(paths[0]))] + ["-" + unit_word(str(path)) for path in paths[1:]],
        stop_timeout_seconds=stop_timeout_seconds(settings),
        environment={
            "AMBIENT_CONFIG_DIR": str(settings.config_dir),
            "AMBIENT_DATA_DIR": str(settings.data_dir),
        },
        working_directory=unit_path(settings.data_dir),
        header=(
            "# Written by `ambient service install` for this user's install; rerun it after\n"
            "# moving the venv or the config. `ambient service uninstall` removes it.\n"
        ),
    )


def shipped_spec(settings: Settings) -> UnitSpec:
    """The repository's systemd/ambient.service: a pipx install with the XDG dirs."""
    return UnitSpec(
        exec_start="%h/.local/bin/ambient run",
        env_file="%h/.config/ambient/.env",
        writable=["%h/.local/share/ambient"],
        stop_timeout_seconds=stop_timeout_seconds(settings),
        header=SHIPPED_HEADER,
    )


def render_unit(spec: UnitSpec) -> str:
    environment = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", **spec.environment}
    lines = [
        spec.header.rstrip("\n"),
        "" if spec.header else None,
        "[Unit]",
        "Description=ambient: triages your inbox and drafts actions for your approval",
        f"StartLimitIntervalSec={START_LIMIT_INTERVAL_SECONDS}",
        f"StartLimitBurst={START_LIMIT_BURST}",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={spec.exec_start}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        *(f"Environment={unit_word(f'{name}={value}')}" for name, value in environment.items()),
        f"EnvironmentFile=-{spec.env_file}",
        f"WorkingDirectory={spec.working_directory}" if spec.working_directory else None,
        "Restart=on-failure",
        f"RestartSec={RESTART_SECONDS}",
        f"TimeoutStartSec={START_TIMEOUT_SECONDS}",
        f"TimeoutStopSec={spec.stop_timeout_seconds}",
        f"WatchdogSec={WATCHDOG_SECONDS}",
        "KillMode=mixed",
        "SyslogIdentifier=ambient",
        "",
        *HARDENING.splitlines(),
        f"ReadWritePaths={' '.join(spec.writable)}",
        "",
        "[Install]",
        "WantedBy=default.target",
    ]
    return "\n".join(line for line in lines if line is not None).lstrip("\n") + "\n"


def find_executable() -> Path:
    """This install's ``ambient`` script: the venv's bin dir first, then PATH."""
    candidate = Path(sys.prefix) / "bin" / "ambient"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("ambient")
    if found:
        return Path(os.path.abspath(found))
    raise ConfigError(
        f"service: no `ambient` executable in {candidate.parent} or on PATH; "
        "install ambient (pip install -e .) into the environment the service should run"
    )


def user_unit_dir(environ: Mapping[str, str]) -> Path:
    config_home = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(config_home).expanduser() / "systemd" / "user"


def verify_unit(path: Path, *, user: bool = True) -> tuple[int, str] | None:
    """``systemd-analyze verify`` on a unit file: (exit code, output), None without the tool."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory(prefix="ambient-verify-") as runtime_dir:
        env = dict(os.environ)
        if user and not env.get("XDG_RUNTIME_DIR"):
            env["XDG_RUNTIME_DIR"] = runtime_dir  # the user-mode verifier needs one to exist
        command = [tool, *(["--user"] if user else []), "verify", str(path)]
        result = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=60, check=False
        )
    return result.returncode, (result.stdout + result.stderr).strip()


if __name__ == "__main__":  # regenerate systemd/ambient.service (a test checks they match)
    from ambient.core.config import load_settings

    defaults, _secrets = load_settings({"AMBIENT_HOME": "/nonexistent-ambient-home"})
    sys.stdout.write(render_unit(shipped_spec(defaults)))
