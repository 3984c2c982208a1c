"""Figures a benchmark reports to `bench/all.py`'s table.

Each benchmark prints its own figures as before and also calls :func:`report` once per
headline figure. When `bench/all.py` runs it, `AMBIENT_BENCH_RESULTS` names a JSON-lines file
the rows are appended to; run on its own, `report` only prints nothing more.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV = "AMBIENT_BENCH_RESULTS"


def report(
    what: str, value: float | str, unit: str = "", goal: str = "", met: bool | None = None
) -> None:
    """One row of the table: what was measured, its value and unit, the goal as text (such as
    "< 1 s" or ">= 14.4x"), and whether it is met (None: no goal)."""
    target = os.environ.get(ENV)
    if not target:
        return
    row = {"what": what, "value": value, "unit": unit, "goal": goal, "met": met}
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
