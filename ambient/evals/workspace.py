"""The memory a replay reads: always a copy in a temporary folder, never the user's own.

Without a commit, the memory folder as it is now (uncommitted edits included) is copied, its
``.git`` left behind. With ``--memory-at COMMIT``, that commit's files are written out with
``git archive`` (the repository is only read) instead. The copy is removed when the replay ends.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ambient.core.errors import InputError, NotFoundError
from ambient.memory.history import MemoryHistory, MemoryHistoryError, git_available
from ambient.memory.store import MemoryStore


@dataclass(frozen=True)
class MemorySnapshot:
    """The copy a replay reads, and which memory it is."""

    store: MemoryStore
    at: str | None  # the commit asked for (None: the folder as it is now)
    commit: str | None  # the full commit: the one asked for, else the folder's HEAD if any

    def as_json(self) -> dict[str, str | None]:
        return {"at": self.at, "commit": self.commit}

    @property
    def label(self) -> str:
        if self.at is not None:
            return f"commit {(self.commit or self.at)[:12]}"
        head = f" (HEAD {self.commit[:12]})" if self.commit else ""
        return f"the memory folder as it is now{head}"


def _head(history: MemoryHistory) -> str | None:
    if not history.is_repository or not git_available():
        return None
    try:
        return history.head()
    except MemoryHistoryError:
        return None  # a repository without a commit yet


@contextmanager
def memory_snapshot(folder: Path, at: str | None = None) -> Iterator[MemorySnapshot]:
    """A temporary copy of the memory `folder`, or of its commit `at`; InputError for a
    commit the folder's history does not have."""
    history = MemoryHistory(folder)
    with tempfile.TemporaryDirectory(prefix="ambient-eval-") as temporary:
        copy = Path(temporary) / "memory"
        if at is None:
            commit = _head(history)
            if folder.is_dir():
                shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".git"))
            else:
                copy.mkdir()
        else:
            if not history.is_repository:
                raise InputError(f"--memory-at {at}: the memory folder {folder} has no git history")
            try:
                commit = history.export_tree(at, copy)
            except (MemoryHistoryError, NotFoundError) as error:
                raise InputError(f"--memory-at {at}: {error}") from None
        yield MemorySnapshot(MemoryStore(copy), at, commit)
