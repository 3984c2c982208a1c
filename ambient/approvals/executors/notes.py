"""write_note: an atomic write inside the notes folder, once per idempotency key.

The note is written to a temporary file beside it, flushed to disk and renamed over the target
(a reader sees the old note or the new one, never half). Then a marker named after the key is
written the same way; a marker that exists means "done", so a repeat after a crash writes
nothing. A crash between the rename and the marker repeats only the identical rename.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from pathlib import Path

from ambient.approvals.actions import WriteNote, parse_action
from ambient.approvals.executors import ExecutionResult, PermanentExecutionError
from ambient.approvals.paths import UnsafePath, resolve_inside
from ambient.approvals.tables import Approval


def atomic_write(path: Path, content: bytes) -> None:
    """Write via a temporary file in the same folder, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with temporary.open("xb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class NotesExecutor:
    def __init__(self, notes_dir: Path, markers_dir: Path) -> None:
        self.notes_dir = notes_dir
        self.markers_dir = markers_dir

    async def execute(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        return await asyncio.to_thread(self._write, approval, idempotency_key)

    def _write(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        action = parse_action(approval.kind, approval.effective_args)
        assert isinstance(action, WriteNote)
        marker = self.markers_dir / f"{idempotency_key}.json"
        if marker.is_file():
            recorded = json.loads(marker.read_text(encoding="utf-8"))
            return ExecutionResult(f"note {recorded['path']} already written", recorded)
        self.notes_dir.mkdir(parents=True, exist_ok=True)
        try:
            path = resolve_inside(self.notes_dir, action.path)
        except UnsafePath as error:
            raise PermanentExecutionError(f"note path refused: {error}") from None
        content = action.content.encode("utf-8")
        atomic_write(path, content)
        details = {
            "path": action.path,
            "bytes": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        atomic_write(marker, json.dumps(details).encode("utf-8"))
        return ExecutionResult(f"wrote note {action.path} ({len(content)} bytes)", details)
