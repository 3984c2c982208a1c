"""What the `ambient memory …` commands do, as plain data the CLI prints (or dumps as JSON).

Keys of the returned dicts are stable: scripts read them through ``--json``.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

from ambient.core.errors import AmbientError, NotFoundError
from ambient.memory.audit import MemoryAudit
from ambient.memory.history import MemoryCommit, MemoryHistory, git_available
from ambient.memory.paths import normalise_name, resolve_in_folder
from ambient.memory.store import MemoryStore


class EditorError(AmbientError):
    """The editor could not be started or failed."""


def list_files(store: MemoryStore) -> dict[str, Any]:
    history = MemoryHistory(store.folder)
    files = [
        {
            "file": row.name,
            "status": row.status,
            "size": row.size,
            "tokens": row.tokens,
            "modified": row.modified.isoformat() if row.modified else None,
            "error": row.error,
        }
        for row in store.status()
    ]
    pending = history.has_changes() if history.is_repository and git_available() else None
    return {
        "folder": str(store.folder),
        "folder_exists": store.folder.is_dir(),
        "history": history.is_repository,
        "uncommitted_edits": pending,
        "files": files,
    }


def show_file(store: MemoryStore, file: str) -> dict[str, Any]:
    memory_file = store.load(file)
    return {
        "file": memory_file.name,
        "text": memory_file.text,
        "sha256": memory_file.sha256,
        "tokens": memory_file.tokens,
        "headings": [
            {"level": heading.level, "title": heading.title, "line": heading.line}
            for heading in memory_file.headings
        ],
    }


def search(store: MemoryStore, query: str, limit: int) -> list[dict[str, Any]]:
    return [
        {"file": hit.file, "line": hit.line, "text": hit.text}
        for hit in store.search(query, limit=limit)
    ]


def edit_file(
    store: MemoryStore, file: str, editor: str | None, audit: MemoryAudit | None = None
) -> dict[str, Any]:
    """Open the file in the user's editor; a change is committed (and audited) as a user edit."""
    if not store.folder.is_dir():
        raise NotFoundError(f"memory folder {store.folder} does not exist; run `ambient init`")
    relative = normalise_name(file)
    path = resolve_in_folder(store.folder, relative)
    command = shlex.split(editor) if editor and editor.strip() else ["vi"]
    before = path.read_bytes() if path.exists() else None
    try:
        completed = subprocess.run([*command, str(path)], check=False)
    except OSError as error:
        raise EditorError(
            f"cannot start the editor {command[0]!r}: {error.strerror} (set $VISUAL or $EDITOR)"
        ) from error
    if completed.returncode != 0:
        raise EditorError(f"the editor {command[0]!r} exited with status {completed.returncode}")
    after = path.read_bytes() if path.exists() else None
    revision = None
    if after != before and git_available():
        history = MemoryHistory(store.folder, audit)
        with history.locked():
            revision = history.commit_user_edits([relative])
    return {"file": relative, "changed": after != before, "revision": revision}


def _commit(commit: MemoryCommit, history: MemoryHistory, patch: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "revision": commit.revision,
        "short": commit.short,
        "committed_at": commit.committed_at.isoformat(),
        "author": commit.author,
        "subject": commit.subject,
        "body": commit.body,
        "files": list(commit.files),
    }
    if patch:
        entry["diff"] = history.show(commit.revision)
    return entry


def log(folder: Path, limit: int, file: str | None, patch: bool) -> list[dict[str, Any]]:
    history = MemoryHistory(folder)
    name = normalise_name(file) if file else None
    return [_commit(commit, history, patch) for commit in history.log(limit=limit, file=name)]


def undo(folder: Path, revision: str | None, audit: MemoryAudit | None = None) -> dict[str, Any]:
    """Revert `revision`, or ambient's newest change not undone yet (never the user's edit)."""
    history = MemoryHistory(folder, audit)
    return _commit(history.undo(revision), history, patch=True)
