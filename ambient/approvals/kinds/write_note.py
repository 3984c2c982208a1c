"""write_note: a markdown note in the user's notes folder, written once the human approves it.

The path must stay inside the notes folder (checked when drafted, when queued and when run);
replacing a note that exists is a warning. Exactly once: the note is written to a temporary
file beside it, flushed to disk and renamed over the target (a reader sees the old note or the
new one, never half); then a marker named after the idempotency key is written the same way. A
marker that exists means "done", so a repeat after a crash writes nothing; a crash between the
rename and the marker repeats only the identical rename.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

from pydantic import Field

from ambient.approvals.executors import ExecutionResult, Executor, PermanentExecutionError
from ambient.approvals.kinds.base import (
    RATIONALE_HELP,
    ActionArguments,
    ActionKind,
    DraftItem,
    DraftToFix,
    ExecutorParts,
    Kind,
    PolicyCheck,
)
from ambient.approvals.kinds.text_form import first_line
from ambient.approvals.tables import Approval
from ambient.core.config import Settings
from ambient.core.paths import UnsafePath, check_relative, resolve_inside


class WriteNote(ActionArguments):
    path: str = Field(
        min_length=1, max_length=500, description="Relative path inside the notes folder."
    )
    content: str = Field(description="The note's full text (markdown).")


class WriteNoteDraft(WriteNote):
    rationale: str = Field(description=RATIONALE_HELP)


class WriteNoteKind(Kind[WriteNote]):
    name = ActionKind.WRITE_NOTE
    label = "note"
    order = 30
    arguments = WriteNote
    draft = WriteNoteDraft
    description = (
        "Draft a markdown note in the user's notes folder. Runs only after the user approves."
    )
    prompt_hint = "a markdown note in the user's notes folder"
    body_field = "content"
    rules = {"note_path_outside": "block", "note_exists": "warn", "body_too_large": "block"}
    autonomy_by_default = True  # its scope is one folder (autonomy_scope)

    def check_draft(self, draft: WriteNote, item: DraftItem, settings: Settings) -> None:
        try:
            check_relative(draft.path)
        except UnsafePath as error:
            raise DraftToFix(
                f"write_note: {error}; give a relative path inside the notes folder, e.g. "
                "'meetings/2026-11-24.md'"
            ) from None

    def approved(self, args: dict[str, Any]) -> str:
        return f"note {args['path']!r}"

    def concerns(self, args: dict[str, Any]) -> str:
        return str(args.get("path", ""))

    def summary(self, args: dict[str, Any], fallback: str = "") -> str:
        return first_line(str(args.get("content", "")))

    def headline(self, args: dict[str, Any]) -> str:
        return f"note {args.get('path', '')}"

    def autonomy_scope(self, args: dict[str, Any]) -> str | None:
        """The folder it writes into (`projects/`; `./` for the notes folder itself)."""
        try:
            parts = check_relative(str(args.get("path", ""))).parts
        except UnsafePath:
            return None
        return "/".join(parts[:-1]) + "/" if len(parts) > 1 else "./"

    def check(self, action: WriteNote, check: PolicyCheck) -> None:
        try:
            path = resolve_inside(check.notes_dir, action.path, follow_links=False)
        except UnsafePath as error:
            check.add("note_path_outside", str(error))
        else:
            if path.exists():
                check.add("note_exists", f"{action.path!r} exists and would be replaced")
        check.size(len(action.content), "note")

    def build_executor(self, parts: ExecutorParts) -> Executor:
        settings = parts.settings
        return NotesExecutor(settings.notes_dir, settings.data_dir / "outbox" / "notes")


KIND = WriteNoteKind()


# ---- the executor ------------------------------------------------------------------------
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
        action = KIND.parse(approval.effective_args)
        marker = self.markers_dir / f"{idempotency_key}.json"
        if marker.is_file():
            recorded = json.loads(marker.read_text(encoding="utf-8"))
            return ExecutionResult(f"note {recorded['path']} already written", recorded)
        self.notes_dir.mkdir(parents=True, exist_ok=True)
        try:
            path = resolve_inside(self.notes_dir, action.path, follow_links=False)
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
