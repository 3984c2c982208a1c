"""Edits in progress are files, so an edit survives a crash, a refused decision or Escape.

`EditStore` keeps one file per approval under the data dir until the decision is stored
(the editor itself is started by `ambient.core.editing`, the app suspended around it).
"""

from __future__ import annotations

import os
from pathlib import Path


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
