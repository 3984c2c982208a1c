"""The systemd unit as `ambient service install` writes it: verified by systemd-analyze itself."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ambient.cli import main
from ambient.core.config import load_settings
from ambient.daemon.health import HeartbeatRecorder
from ambient.daemon.systemd_unit import render_unit, shipped_spec, verify_unit
from tests.conftest import FrozenClock

REPO = Path(__file__).resolve().parents[2]
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (scripts/install-test-deps.sh installs `systemd`)",
)


@pytest.fixture
def unit_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    return tmp_path / "xdg-config" / "systemd" / "user"


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    capsys.readouterr()
    main([*args, "--json"])
    value: dict[str, object] = json.loads(capsys.readouterr().out)
    return value


def unit_settings(text: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def test_install_writes_the_user_unit_for_this_venv_and_config(
    unit_dir: Path, ambient_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (ambient_home / "ambient.toml").write_text("[worker]\ndrain_seconds = 20\n")
    result = cli_json(capsys, "service", "install")

    path = unit_dir / "ambient.service"
    assert result["unit_path"] == str(path) and result["changed"] is True
    settings = unit_settings(path.read_text())
    executable = Path(sys.prefix) / "bin" / "ambient"
    assert settings["ExecStart"] == [f"{executable} run"]
    assert settings["Type"] == ["notify"] and settings["NotifyAccess"] == ["main"]
    assert settings["EnvironmentFile"] == [f"-{ambient_home.resolve()}/.env"]
    assert f"AMBIENT_DATA_DIR={ambient_home.resolve()}" in settings["Environment"]
    assert settings["ReadWritePaths"] == [str(ambient_home.resolve())]
    assert settings["TimeoutStopSec"] == ["55"]  # 2 x drain (worker, then jobs) + 15s margin
    assert settings["Restart"] == ["on-failure"] and settings["StartLimitBurst"] == ["5"]
    assert "systemctl --user enable --now ambient.service" in result["commands"]  # type: ignore[operator]
    assert cli_json(capsys, "service", "install")["changed"] is False


@needs_systemd_analyze
def test_installed_unit_passes_systemd_analyze_verify_with_no_output(
    unit_dir: Path, ambient_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["service", "install"])
    checked = verify_unit(unit_dir / "ambient.service")
    assert checked == (0, "")


@needs_systemd_analyze
def test_paths_with_spaces_and_percent_signs_are_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unit_dir: Path
) -> None:
    home = tmp_path / "my home 100%"
    monkeypatch.setenv("AMBIENT_HOME", str(home))
    main(["service", "install"])
    text = (unit_dir / "ambient.service").read_text()
    assert f'ReadWritePaths="{home.resolve()}"'.replace("%", "%%") in text
    assert verify_unit(unit_dir / "ambient.service") == (0, "")


@needs_systemd_analyze
def test_verify_is_not_vacuous_it_reports_a_missing_binary_and_unknown_keys(
    unit_dir: Path, tmp_path: Path
) -> None:
    main(["service", "install"])
    text = (unit_dir / "ambient.service").read_text()
    broken = tmp_path / "ambient.service"
    broken.write_text(text.replace(f"{sys.prefix}/bin/ambient", "/nonexistent/ambient"))
    code, output = verify_unit(broken) or (0, "")
    assert code != 0 and "/nonexistent/ambient" in output
    broken.write_text(text.replace("[Service]\n", "[Service]\nWatchdogSecs=60\n"))
    code, output = verify_unit(broken) or (0, "")
    assert "Unknown key 'WatchdogSecs'" in output


@needs_systemd_analyze
def test_security_exposure_of_the_rendered_unit_stays_low(unit_dir: Path, tmp_path: Path) -> None:
    main(["service", "install"])
    runtime_dir = tmp_path / "runtime"
    runtime_dir.mkdir(mode=0o700)
    result = subprocess.run(
        [str(SYSTEMD_ANALYZE), "--user", "security", "--offline=true", "ambient.service"],
        cwd=unit_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)},
    )
    found = re.search(r"Overall exposure level for ambient\.service: ([\d.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0  # measured 1.6 "OK"; it needs the network


def test_the_shipped_unit_is_the_renderers_output() -> None:
    defaults, _ = load_settings({"AMBIENT_HOME": "/nonexistent-ambient-home"})
    shipped = (REPO / "systemd" / "ambient.service").read_text()
    assert shipped == render_unit(shipped_spec(defaults)), (
        "regenerate: .venv/bin/python -m ambient.daemon.systemd_unit > systemd/ambient.service"
    )
    assert "ExecStart=%h/.local/bin/ambient run" in shipped
    assert "System-unit variant" in shipped


def test_owned_maildirs_outside_the_data_dir_are_writable_others_are_not(
    tmp_path: Path, ambient_home: Path, unit_dir: Path
) -> None:
    (ambient_home / "ambient.toml").write_text(
        f'[[sources]]\ntype = "maildir"\nname = "ours"\npath = "{tmp_path / "ours"}"\n'
        f'[[sources]]\ntype = "maildir"\nname = "theirs"\nowned = false\n'
        f'path = "{tmp_path / "theirs"}"\n'
    )
    main(["service", "install"])
    settings = unit_settings((unit_dir / "ambient.service").read_text())
    assert settings["ReadWritePaths"] == [f"{ambient_home.resolve()} -{tmp_path / 'ours'}"]


def test_uninstall_removes_the_unit_and_its_enablement_link(
    unit_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["service", "install"])
    wants = unit_dir / "default.target.wants"
    wants.mkdir()
    (wants / "ambient.service").symlink_to(unit_dir / "ambient.service")
    removed = cli_json(capsys, "service", "uninstall")
    assert sorted(removed["removed"]) == sorted(  # type: ignore[arg-type]
        [str(unit_dir / "ambient.service"), str(wants / "ambient.service")]
    )
    assert not (unit_dir / "ambient.service").exists()
    assert cli_json(capsys, "service", "uninstall")["removed"] == []


def test_status_reads_health_from_the_heartbeat_without_systemd(
    unit_dir: Path, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["service", "status"]) == 1
    assert "never started" in capsys.readouterr().out
    recorder = HeartbeatRecorder(engine, FrozenClock(datetime.now(UTC)), "test", "host:42")
    recorder.beat("0 awaiting approval, 1 new, 0 in progress, 0 quarantined")
    status = cli_json(capsys, "service", "status")
    assert status["alive"] is True and status["process"] == "host:42"
    assert status["status"] == "0 awaiting approval, 1 new, 0 in progress, 0 quarantined"
    assert status["installed"] is False and status["systemd"] in (None, "inactive", "unknown")


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or not Path("/usr/lib/x86_64-linux-gnu").exists(),
    reason="needs llama-cpp-python (the `local` extra) and libseccomp on x86-64 Linux",
)
def test_bundled_model_runtime_works_under_memory_deny_write_execute() -> None:
    """MemoryDenyWriteExecute=yes is in the unit: the bundled model must load and answer under
    it (llama.cpp's CPU backend generates no code at run time; libffi uses static trampolines)."""
    probe = Path(__file__).with_name("mdwx_probe.py")
    result = subprocess.run(
        [sys.executable, str(probe)], capture_output=True, text=True, timeout=90, check=False
    )
    if "cannot load the seccomp filter" in result.stderr + result.stdout:
        pytest.skip("seccomp filters cannot be loaded here")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"
