"""A real MLflow tracking server, started once per test session: ambient's OTLP backend.

scripts/setup-mlflow installs MLflow into its own venv (.venv-mlflow: its pins would clash with
the project's). The fixture runs `mlflow server` on SQLite in a temp dir on a free loopback
port (telemetry and the job runner off), waits for /health with a deadline, and stops it by its
process group at the end. A test may stop it and start it again on the same port and store (an
outage). MLflow takes OTLP/HTTP at /v1/traces with the experiment in the x-mlflow-experiment-id
header (mlflow/server/otel_api.py); each test gets an experiment of its own, and reads its
traces back with MLflow's own client (tests/servers/mlflow_client.py, run with that venv).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers.ports import free_port

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-mlflow"
CLIENT = Path(__file__).with_name("mlflow_client.py")
START_SECONDS = 90.0  # a new store migrates first: about 20 s here, a restart about 10 s
EXPERIMENT_HEADER = "x-mlflow-experiment-id"


def _environment() -> dict[str, str]:
    """MLflow's processes: no telemetry (nothing leaves the machine), no job runner, and none
    of the tests' Python path."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    return environment


class MlflowServer:
    def __init__(self, venv: Path, root: Path) -> None:
        self.venv = venv
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds: list[float] = []  # how long each start took

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        started = time.monotonic()
        log = (self.root / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(self.venv / "bin" / "mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.root / 'mlflow.db'}",
                "--artifacts-destination",
                str(self.root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            cwd=self.root,
            env=_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uvicorn runs as a child
        )
        log.close()
        deadline = started + START_SECONDS
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / "server.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise AssertionError(f"mlflow server did not start:\n{tail}")
            time.sleep(0.1)
        self.start_seconds.append(time.monotonic() - started)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stop the server and its workers (its process group); the store stays."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        deadline = time.monotonic() + 30
        while self._healthy():  # a worker that outlived the group leader still answers
            if time.monotonic() > deadline:
                raise AssertionError("mlflow server still answers after it was stopped")
            time.sleep(0.1)

    def create_experiment(self, name: str) -> str:
        response = httpx.post(
            f"{self.url}/api/2.0/mlflow/experiments/create", json={"name": name}, timeout=30
        )
        response.raise_for_status()
        return str(response.json()["experiment_id"])

    def traces(self, experiment_id: str) -> list[dict[str, Any]]:
        """The experiment's traces, read with MLflow's own client (`mlflow.search_traces`)."""
        result = subprocess.run(
            [str(self.venv / "bin" / "python"), str(CLIENT), self.url, experiment_id],
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        traces: list[dict[str, Any]] = json.loads(result.stdout)
        return traces


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[MlflowServer]:
    if not (VENV / "bin" / "mlflow").exists():
        pytest.skip("MLflow is not installed: run scripts/setup-mlflow")
    root = Path(tempfile.mkdtemp(prefix="ambient-mlflow-"))
    server = MlflowServer(VENV, root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class MlflowExperiment:
    """One test's experiment on the session's server: where its traces go, and what arrived."""

    server: MlflowServer
    experiment_id: str

    def environment(self) -> dict[str, str]:
        """The variables that point ambient at this experiment (and only there)."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.server.url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"{EXPERIMENT_HEADER}={self.experiment_id}",
        }

    def traces(self) -> list[dict[str, Any]]:
        return self.server.traces(self.experiment_id)

    def wait_for(
        self, condition: Callable[[list[dict[str, Any]]], Any], timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """The traces once the condition holds for them (each look runs MLflow's client)."""
        deadline = time.monotonic() + timeout
        while True:
            traces = self.traces()
            if condition(traces):
                return traces
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s: {traces}")
            time.sleep(0.5)


@pytest.fixture
def mlflow_experiment(mlflow_server: MlflowServer) -> Iterator[MlflowExperiment]:
    if not mlflow_server.running:  # an earlier test stopped it and failed before restarting
        mlflow_server.start()
    experiment_id = mlflow_server.create_experiment(f"ambient-{uuid.uuid4().hex[:12]}")
    yield MlflowExperiment(mlflow_server, experiment_id)
    if not mlflow_server.running:
        mlflow_server.start()
