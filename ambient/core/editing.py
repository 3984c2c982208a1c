"""The user's editor: which command ($VISUAL, else $EDITOR) and running it on a file.

Every edit goes through here, whatever is edited (a draft, a memory file) and wherever
(the CLI, the TUI suspended around it): one way to start the editor, one error when it fails.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ambient.core.errors import AmbientError


class EditorError(AmbientError):
    """The editor could not be started or failed."""


def editor_command(environ: Mapping[str, str]) -> str | None:
    """The editor the user chose: $VISUAL, else $EDITOR (None when neither is set)."""
    return environ.get("VISUAL") or environ.get("EDITOR") or None


def run_editor(command: str, path: Path) -> None:
    """Run `command path` in the foreground and wait for it; EditorError when it fails."""
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise EditorError(f"the editor {command!r} cannot be parsed: {error}") from None
    if not argv:
        raise EditorError("no editor: set $VISUAL or $EDITOR")
    try:
        completed = subprocess.run([*argv, str(path)], check=False)
    except OSError as error:
        raise EditorError(
            f"cannot start the editor {argv[0]!r}: {error.strerror} (set $VISUAL or $EDITOR)"
        ) from None
    if completed.returncode != 0:
        raise EditorError(f"the editor {argv[0]!r} exited with status {completed.returncode}")


def edit_text(command: str, text: str, file_name: str) -> str:
    """The text after the user edited it, in a file named `file_name` that is then removed."""
    with tempfile.TemporaryDirectory(prefix="ambient-edit-") as folder:
        path = Path(folder) / file_name
        path.write_text(text, encoding="utf-8")
        run_editor(command, path)
        return path.read_text(encoding="utf-8")
