"""A memory file opened in the user's editor; what they change is committed as their edit."""

from __future__ import annotations

from dataclasses import dataclass

from ambient.core.editing import run_editor
from ambient.core.errors import NotFoundError
from ambient.memory.audit import MemoryAudit
from ambient.memory.history import MemoryHistory, git_available
from ambient.memory.names import normalise_name, resolve_in_folder
from ambient.memory.store import MemoryStore

FALLBACK_EDITOR = "vi"  # when neither $VISUAL nor $EDITOR is set


@dataclass(frozen=True)
class FileEdit:
    file: str  # the canonical name ("contacts.md")
    changed: bool
    revision: str | None  # the commit of the user's edit, when there is a history


def edit_file(
    store: MemoryStore, file: str, editor: str | None, audit: MemoryAudit | None = None
) -> FileEdit:
    """Open the file in the user's editor; a change is committed (and audited) as a user edit."""
    if not store.folder.is_dir():
        raise NotFoundError(f"memory folder {store.folder} does not exist; run `ambient init`")
    relative = normalise_name(file)
    path = resolve_in_folder(store.folder, relative)
    before = path.read_bytes() if path.exists() else None
    run_editor(editor if editor and editor.strip() else FALLBACK_EDITOR, path)
    after = path.read_bytes() if path.exists() else None
    revision = None
    if after != before and git_available():
        history = MemoryHistory(store.folder, audit)
        with history.locked():
            revision = history.commit_user_edits([relative])
    return FileEdit(relative, after != before, revision)
