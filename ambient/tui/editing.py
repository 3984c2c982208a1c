"""Edits in progress are files, so an edit survives a crash, a refused decision or Escape.

`EditStore` keeps one file per approval under the data dir until the decision is stored;
`run_editor` opens a file in the user's $EDITOR (the app suspends itself around it).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from ambient.core.errors import AmbientError


class EditorError(AmbientError):
    """The editor could not be started or failed."""


class EditStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, approval_id: int) -> Path:
        return self.folder / f"approval-{approval_id}.txt"

    def load(self, approval_id: int) -> str | None:
        try:
            return self.path(approval_id).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def save(self, approval_id: int, text: str) -> Path:
        """Write atomically (a crash leaves the old text or the new one, never half)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(approval_id)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
        return target

    def discard(self, approval_id: int) -> None:
        self.path(approval_id).unlink(missing_ok=True)


def run_editor(command: str, path: Path) -> None:
    """Run `$EDITOR path` in the foreground and wait for it (raises EditorError on failure)."""
    try:
        argv = [*shlex.split(command), str(path)]
    except ValueError as error:
        raise EditorError(f"$EDITOR={command!r}: cannot be parsed: {error}") from None
    if not argv[:-1]:
        raise EditorError("$EDITOR is empty")
    try:
        completed = subprocess.run(argv, check=False)
    except OSError as error:
        raise EditorError(f"$EDITOR={command!r}: cannot start: {error.strerror}") from None
    if completed.returncode != 0:
        raise EditorError(f"$EDITOR={command!r} exited with status {completed.returncode}")
