"""`scripts/setup` says what it does in a few lines; pip's noise only when pip fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Stands in for .venv/bin/python: pip's chatter on stdout, the build backend's editable-install
# notice as a real Python warning (so PYTHONWARNINGS applies to it), and a failure on request.
FAKE_PIP = f"""#!{sys.executable}
import os, sys, warnings
if sys.argv[1:] == ["-m", "pip", "--version"]:
    sys.exit(0)
print("Collecting pydantic-ai-slim\\nDownloading 2.3 MB\\nInstalling collected packages")
warnings.warn(
    "Editable installation.\\n!!\\n\\n" + "*" * 80 + "\\nPlease be careful with folders\\n!!",
    UserWarning,
)
if os.environ.get("FAKE_PIP_FAILS") and "-e" in sys.argv:
    print("ERROR: Failed building wheel for llama-cpp-python", file=sys.stderr)
    sys.exit(1)
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the scripts and pyproject.toml with a fake, already created .venv."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup", tmp_path / "scripts" / "setup")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PIP)
    python.chmod(0o755)
    return tmp_path


def run_setup(checkout: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, **environment}
    return subprocess.run(
        ["sh", str(checkout / "scripts" / "setup"), "dev"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_setup_prints_a_few_lines_and_no_setuptools_warning_box(checkout: Path) -> None:
    result = run_setup(checkout)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert len(output.splitlines()) <= 3
    assert "*****" not in output and "Collecting" not in output
    log = (checkout / ".venv" / ".ambient-setup.log").read_text()
    assert "Collecting pydantic-ai-slim" in log and "Editable installation" not in log


def test_when_pip_fails_setup_shows_the_end_of_its_log(checkout: Path) -> None:
    result = run_setup(checkout, FAKE_PIP_FAILS="1")

    assert result.returncode == 1
    assert "setup: pip install -e .[dev] failed" in result.stderr
    assert "ERROR: Failed building wheel for llama-cpp-python" in result.stderr
    assert not (checkout / ".venv" / ".ambient-installed").exists()  # tried again next time
