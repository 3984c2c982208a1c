"""The memory folder's version for a decision's lineage: its git commit, cheaply.

:meth:`MemoryVersion.current` is the commit ``HEAD`` names, followed by ``+edits`` when the
folder has edits not committed yet, and ``none`` when there is no history to name (no git, no
repository, no commit yet). Git runs only when something changed since the last answer: the
answer is kept against the modification times and sizes of ``.git/HEAD``, the branch's ref
(loose or packed) and every memory file, which cost a few ``stat`` calls per item.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ambient.core.lineage import EDITS_MARKER, NO_MEMORY_COMMIT
from ambient.memory.history import MemoryHistory, MemoryHistoryError, git_available

log = logging.getLogger(__name__)

Stamp = tuple[int, int] | None  # a file's (mtime in ns, size); None when it is missing
Fingerprint = tuple[tuple[str, Stamp], ...]


def _stamp(path: Path) -> Stamp:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size)


def _ref_file(git_dir: Path) -> Path | None:
    """The loose ref file HEAD points at (None for a detached HEAD or an unreadable one)."""
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return None
    return git_dir / head[len("ref:") :].strip()


def fingerprint(folder: Path) -> Fingerprint:
    """What a commit or an edit in `folder` changes: git's HEAD and ref files, every file."""
    git_dir = folder / ".git"
    watched = [git_dir / "HEAD", git_dir / "packed-refs"]
    ref = _ref_file(git_dir)
    if ref is not None:
        watched.append(ref)
    stamps = [(str(path.relative_to(folder)), _stamp(path)) for path in watched]
    for root, directories, files in os.walk(folder):
        directories[:] = sorted(name for name in directories if name != ".git")
        for name in sorted(files):
            path = Path(root, name)
            stamps.append((str(path.relative_to(folder)), _stamp(path)))
    return tuple(stamps)


class MemoryVersion:
    """The memory folder's commit for lineage, asked once per item (thread-safe)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.history = MemoryHistory(folder)
        self._lock = threading.Lock()
        self._known: tuple[Fingerprint, str] | None = None
        self.reads = 0  # how many times git was asked (the cache's hit rate, for tests)

    def current(self) -> str:
        """``<commit>``, ``<commit>+edits`` or ``none``; never raises."""
        if not self.history.is_repository or not git_available():
            return NO_MEMORY_COMMIT
        with self._lock:
            seen = fingerprint(self.folder)
            if self._known is not None and self._known[0] == seen:
                return self._known[1]
            version = self._read()
            self._known = (seen, version)
            return version

    def _read(self) -> str:
        self.reads += 1
        try:
            commit = self.history.head()
        except MemoryHistoryError:
            return NO_MEMORY_COMMIT  # a repository without a commit yet
        try:
            edited = self.history.has_changes()
        except MemoryHistoryError as error:
            log.warning("memory %s: cannot tell whether it has edits: %s", self.folder, error)
            edited = False
        return commit + EDITS_MARKER if edited else commit
