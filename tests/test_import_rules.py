import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_imports_without_textual() -> None:
    code = (
        "import sys; sys.modules['textual'] = None\n"
        "import ambient.runtime, ambient.daemon.runner, ambient.agent.processor\n"
        "import ambient.core.config, ambient.core.db, ambient.core.ledger\n"
        "import pkgutil, importlib, ambient\n"
        "for pkg in ('ambient.approvals', 'ambient.memory', 'ambient.tracing', 'ambient.agent'):\n"
        "    module = importlib.import_module(pkg)\n"
        "    for info in pkgutil.walk_packages(module.__path__, pkg + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr
