"""What a command imports before it needs it: the TUI's first frame and the idle daemon pay for
every module (time and memory), so the agent, the model SDKs, Alembic, jsonschema and the HTTP
and IMAP clients wait until something uses them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ambient.core.db import make_engine, migrate

NOT_AT_START = "pydantic_ai openai anthropic alembic jsonschema httpx imapclient".split()

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
        [sys.executable, "-c", STARTING_THE_TUI, url, json.dumps(NOT_AT_START)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(completed.stdout) == []
