"""Applying a change to a memory file: atomically, as a commit, never over a user's edit.

The order matters. Under the history lock: the user's pending hand edits are committed first
("user edit"), so they are in the history whatever happens next; then the diff is applied to
the text as it is *now*. If the user changed other lines since the proposal, the diff still
applies (hunks are located by content); if they changed the lines the diff touches, nothing is
written and :class:`ChangeConflict` carries the current text so the change can be re-proposed.
If the file already reads as the diff makes it (an identical proposal was applied first), the
change is reported as already applied and nothing is written. The file is replaced by rename,
the commit names the decision that caused it, and (with a MemoryAudit) it is an audit entry.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ambient.core.diffs import DiffConflict, already_applied, apply_diff, sha256_text
from ambient.core.errors import AmbientError
from ambient.memory.audit import MemoryAudit
from ambient.memory.history import CHANGE_TRAILER, MemoryHistory, neutralised
from ambient.memory.names import normalise_name, resolve_in_folder

log = logging.getLogger(__name__)

KEY_TRAILER = CHANGE_TRAILER


class ChangeConflict(AmbientError):
    """The memory file changed under a proposed diff; it must be proposed again."""

    def __init__(self, file: str, message: str, current_text: str, by_hand: bool = True) -> None:
        super().__init__(message)
        self.file = file
        self.current_text = current_text
        self.current_sha256 = sha256_text(current_text)
        self.by_hand = by_hand  # False: only ambient's own changes touched those lines


@dataclass(frozen=True)
class AppliedChange:
    file: str
    revision: str
    new_sha256: str
    already_applied: bool = False  # committed before (a retry): nothing written now
    already_present: bool = False  # the file already had the change: nothing written


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` by rename (same folder), keeping its permissions."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def commit_message(subject: str, reason: str, key: str) -> str:
    """The subject (ambient's), the reason (the model's, unable to pose as a trailer) and the
    key as the one trailer."""
    body = neutralised(reason.strip())
    return (
        f"{subject}\n\n{body}\n\n{KEY_TRAILER}: {key}\n"
        if body
        else f"{subject}\n\n{KEY_TRAILER}: {key}\n"
    )


class MemoryChanges:
    """Writes diffs into the memory folder and records them in its history."""

    def __init__(
        self, folder: Path, history: MemoryHistory | None = None, audit: MemoryAudit | None = None
    ) -> None:
        self.folder = folder
        self.history = history or MemoryHistory(folder, audit)
        self.audit = audit or self.history.audit

    def apply(
        self,
        *,
        file: str,
        diff: str,
        base_sha256: str,
        subject: str,
        reason: str,
        key: str,
        approval_id: int | None = None,
        item_id: int | None = None,
    ) -> AppliedChange:
        """Apply `diff` to `file` and commit; idempotent per `key` (a retry finds its commit).

        Raises ChangeConflict when the file no longer has the lines the diff changes, and
        ambient.core.diffs.DiffError when the diff itself cannot be read.
        """
        relative = normalise_name(file)
        with self.history.locked():
            done = self.history.find_by_trailer(KEY_TRAILER, key)
            if done is not None:
                log.info("memory: change %s already committed as %s", key, done[:10])
                path = resolve_in_folder(self.folder, relative)
                current = path.read_text("utf-8") if path.exists() else ""
                self._audit(relative, done, approval_id, item_id, subject)  # if it was not yet
                return AppliedChange(relative, done, sha256_text(current), already_applied=True)
            self.history.commit_user_edits()
            path = resolve_in_folder(self.folder, relative)
            name = path.relative_to(self.folder.resolve()).as_posix()
            current = path.read_text("utf-8") if path.exists() else ""
            if not path.exists() and base_sha256 != sha256_text(""):
                raise ChangeConflict(name, f"{name} was deleted since the change was proposed", "")
            if already_applied(current, diff):
                newest = self.history.log(limit=1, file=name)
                since = newest[0].revision if newest else self.history.head()
                log.info("memory: change %s to %s already in the file (%s)", key, name, since)
                return AppliedChange(name, since, sha256_text(current), already_present=True)
            try:
                new_text = apply_diff(current, diff)
            except DiffConflict as error:
                raise self._conflict(name, current, base_sha256, error) from error
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, new_text)
            revision = self.history.commit_paths(commit_message(subject, reason, key), [name])
            if revision is None:  # the text already was what the diff makes it
                revision = self.history.head()
            else:
                self._audit(name, revision, approval_id, item_id, subject)
        log.info("memory: applied change to %s as %s (%s)", name, revision[:10], subject)
        return AppliedChange(name, revision, sha256_text(new_text))

    def _conflict(
        self, name: str, current: str, base_sha256: str, error: DiffConflict
    ) -> ChangeConflict:
        """The conflict, saying truly what changed the file: the user's hand, or ambient."""
        if sha256_text(current) == base_sha256:
            return ChangeConflict(name, f"{name} (unchanged since the proposal): {error}", current)
        since = self.history.changes_since(name, base_sha256)
        if since and not any(commit.subject.startswith("user edit") for commit in since):
            changed = f"changed since the proposal by {since[0].short} {since[0].subject!r}"
            return ChangeConflict(name, f"{name} ({changed}): {error}", current, by_hand=False)
        return ChangeConflict(name, f"{name} (edited since the proposal): {error}", current)

    def _audit(
        self, name: str, revision: str, approval_id: int | None, item_id: int | None, subject: str
    ) -> None:
        if self.audit is not None:
            self.audit.applied(
                file=name,
                revision=revision,
                approval_id=approval_id,
                item_id=item_id,
                subject=subject,
            )
