"""What a command imports before it needs it: the TUI's first frame and the idle daemon pay for
every module (time and memory), so the agent, the model SDKs, Alembic, jsonschema and the HTTP
and IMAP clients wait until something uses them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ambient.core.db import make_engine, migrate
from tests.conftest import child_environment

NOT_AT_START = "pydantic_ai openai anthropic alembic jsonschema httpx imapclient".split()
# built on first use, after the TUI's first frame (deciding, the autonomy screen, editing a draft)
NOT_BEFORE_THE_FIRST_FRAME = [
    "ambient.approvals.queue",
    "ambient.approvals.autonomy_status",
    "ambient.approvals.decisions",
    "ambient.tui.edit_flow",
]

STARTING_THE_TUI = """
import json, sys
from ambient.cli import build_parser
from ambient.approvals.kinds import KINDS
from ambient.core.db import open_database
import ambient.tui.app, ambient.tui.screens.queue

build_parser()
KINDS.rules()
open_database(sys.argv[1]).dispose()
print(json.dumps(sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)))
"""


def test_the_parser_the_kinds_a_current_database_and_the_tui_import_none_of_the_heavy_parts(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'ambient.db'}"
    engine = make_engine(url)
    migrate(engine)  # current: opening it again looks at alembic_version only
    engine.dispose()
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            STARTING_THE_TUI,
            url,
            json.dumps(NOT_AT_START + NOT_BEFORE_THE_FIRST_FRAME),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(completed.stdout) == []


STARTING_THE_DAEMON = """
import asyncio, json, sys
from ambient.core.config import load_settings
from ambient.runtime import Runtime

runtime = Runtime(*load_settings())
daemon = runtime.daemon  # what `ambient run` builds before its loop starts
for job in daemon.jobs:  # the agent's jobs look for work: none waits
    if job.name in ("agent-feedback", "memory-reflection"):
        assert asyncio.run(job.tick()) == 0
print(json.dumps(sorted(name for name in json.loads(sys.argv[1]) if name in sys.modules)))
runtime.close()
"""

# the agent, its price data, the model SDKs; httpx (the span forwarder's, when it sends)
NOT_IN_AN_IDLE_DAEMON = "pydantic_ai genai_prices openai anthropic httpx".split()


def test_an_idle_daemon_with_the_test_model_has_not_imported_the_agent() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", STARTING_THE_DAEMON, json.dumps(NOT_IN_AN_IDLE_DAEMON)],
        capture_output=True,
        text=True,
        check=True,
        env=child_environment(AMBIENT_MODEL="test"),
    )
    assert json.loads(completed.stdout) == []
