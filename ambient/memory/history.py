"""The memory folder's own git repository: every change is a commit that can be read and undone.

Git runs as ``git -C <folder>`` with its identity given on the command line and the user's
global and system configuration switched off, so nothing depends on (or is changed by) how git
is set up on the machine. Writers take an exclusive lock on a file inside ``.git`` so the
daemon's outbox and a CLI ``memory undo`` never commit over each other.

A change ambient made carries an ``Ambient-Key`` trailer, an undo an ``Ambient-Undoes`` one:
``undo()`` without a revision reverts ambient's newest change not undone yet, never a user's
edit. Only a message's final trailer block counts (:func:`trailers`), an ``Ambient-Undoes``
only on ambient's own undo commits, and a change's reason, which the model wrote, has its
``Key: value``-shaped lines indented (:func:`neutralised`), so no text the model wrote can pose
as a trailer. With a :class:`~ambient.memory.audit.MemoryAudit`, every undo and every hand edit
committed is an entry in the audit log too.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ambient.core.errors import AmbientError, NotFoundError

if TYPE_CHECKING:
    from ambient.memory.audit import MemoryAudit

log = logging.getLogger(__name__)

GIT_TIMEOUT_SECONDS = 30
_FIELD = "\x1f"
_RECORD = "\x1e"
_REVISION = re.compile(r"^[0-9A-Za-z_.~^@{}/-]{1,100}$")
_IGNORED = "# editor leftovers are not memory\n*.swp\n*.swo\n*~\n.#*\n#*#\n.DS_Store\n*.tmp\n"
_process_lock = threading.Lock()
CHANGE_TRAILER = "Ambient-Key"  # on every change ambient applied: the approval's idempotency key
UNDOES_TRAILER = "Ambient-Undoes"  # on every undo: the full revision it reverted
_UNDO_SUBJECT = re.compile(r"^memory: undo ([0-9a-f]{4,40}) ")
HAND_EDIT_SUBJECT = "user edit: "  # how commit_user_edits names its commits
_TRAILER_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")


class MemoryHistoryError(AmbientError):
    """Git could not record, show or revert a memory change."""


@dataclass(frozen=True)
class MemoryCommit:
    revision: str
    short: str
    committed_at: datetime
    author: str
    subject: str
    body: str
    files: tuple[str, ...]


def git_available() -> bool:
    return shutil.which("git") is not None


class MemoryHistory:
    """Git operations on one memory folder."""

    def __init__(self, folder: Path, audit: MemoryAudit | None = None) -> None:
        self.folder = folder
        self.audit = audit  # undos and committed hand edits become audit entries

    # ---- plumbing ---------------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if not git_available():
            raise MemoryHistoryError(
                "git is not installed: the memory history needs it (e.g. apt-get install git)"
            )
        command = [
            "git",
            "-C",
            str(self.folder),
            "-c",
            "user.name=ambient",
            "-c",
            "user.email=ambient@localhost",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.autocrlf=false",
            "-c",
            "core.quotepath=off",
            "-c",
            f"safe.directory={self.folder.resolve()}",
            *args,
        ]
        environment = {
            **os.environ,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_EDITOR": "true",
            "LC_ALL": "C",
        }
        for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            environment.pop(name, None)
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=environment,
                timeout=GIT_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise MemoryHistoryError(f"git {args[0]} in {self.folder} failed: {error}") from error
        if check and completed.returncode != 0:
            detail = (completed.stderr or completed.stdout).strip().splitlines()
            raise MemoryHistoryError(
                f"git {args[0]} in {self.folder} failed: {detail[-1] if detail else 'no output'}"
            )
        return completed

    @property
    def is_repository(self) -> bool:
        return (self.folder / ".git").is_dir()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive access for a read-modify-commit sequence (threads and processes)."""
        if not self.folder.is_dir():
            raise NotFoundError(f"memory folder {self.folder} does not exist; run `ambient init`")
        with _process_lock:
            self.ensure_repository()
            with (self.folder / ".git" / "ambient.lock").open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    # ---- writing ----------------------------------------------------------------------------
    def ensure_repository(self) -> bool:
        """Create the repository (and its first commit) if missing; True if it was created."""
        if self.is_repository:
            return False
        self._run("init", "--quiet", "--initial-branch=main")
        ignore = self.folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text(_IGNORED, encoding="utf-8")
        self.commit_all("memory: start the history of this folder")
        log.info("memory history created in %s", self.folder)
        return True

    def has_changes(self) -> bool:
        status = self._run("status", "--porcelain", "--untracked-files=all")
        return bool(status.stdout.strip())

    def commit_all(self, message: str) -> str | None:
        """Stage everything and commit; returns the new revision, or None if nothing changed."""
        self._run("add", "--all", ".")
        staged = self._run("diff", "--cached", "--quiet", check=False)
        if staged.returncode == 0:
            return None
        self._run("commit", "--quiet", "--no-verify", "-m", message)
        return self.head()

    def commit_paths(self, message: str, names: list[str]) -> str | None:
        """Commit only these files (others' pending edits stay as they are)."""
        if not names:
            return None
        self._run("add", "--", *names)
        staged = self._run("diff", "--cached", "--quiet", "--", *names, check=False)
        if staged.returncode == 0:
            return None
        self._run("commit", "--quiet", "--no-verify", "-m", message, "--", *names)
        return self.head()

    def commit_user_edits(self, names: Sequence[str] | None = None) -> str | None:
        """Record hand edits made since the last commit (of `names` only, if given), so no
        later change hides them; the commit is an audit entry too. Every commit ambient makes
        here goes through this first, so it first enters the audit entries earlier runs lost."""
        if self.audit is not None:
            self.audit.catch_up(self)
        if names is None:
            if not self.has_changes():
                return None
            files = self._changed_files()
            message = f"{HAND_EDIT_SUBJECT}{', '.join(files) or 'memory files'}"
            revision = self.commit_all(message)
        else:
            files = sorted(names)
            revision = self.commit_paths(f"{HAND_EDIT_SUBJECT}{', '.join(files)}", files)
        if revision:
            log.info("memory: committed user edits %s as %s", files, revision[:10])
            if self.audit is not None:
                self.audit.hand_edit(files=files, revision=revision)
        return revision

    def _changed_files(self) -> list[str]:
        status = self._run("status", "--porcelain", "--untracked-files=all", "-z")
        entries = [entry for entry in status.stdout.split("\0") if len(entry) > 3]
        return sorted({entry[3:] for entry in entries if not entry[3:].startswith(".")})

    def head(self) -> str:
        return self._run("rev-parse", "HEAD").stdout.strip()

    # ---- reading ----------------------------------------------------------------------------
    def resolve(self, revision: str) -> str:
        if not _REVISION.match(revision) or revision.startswith("-"):
            raise MemoryHistoryError(
                f"{revision!r} is not a revision (expected e.g. 'HEAD', 'a1b2c3d')"
            )
        found = self._run("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
        if found.returncode != 0:
            raise NotFoundError(
                f"memory history has no revision {revision!r}; see `ambient memory log`"
            )
        return found.stdout.strip()

    def log(self, limit: int = 50, file: str | None = None) -> list[MemoryCommit]:
        if not self.is_repository:
            return []
        fields = _FIELD.join(["%H", "%h", "%cI", "%an", "%s", "%b"])
        args = ["log", f"--max-count={limit}", f"--format={_RECORD}{fields}{_FIELD}", "--name-only"]
        completed = self._run(*args, *(["--", file] if file else []), check=False)
        if completed.returncode != 0:
            return []  # an empty repository has no HEAD yet
        commits = []
        for record in completed.stdout.split(_RECORD)[1:]:
            revision, short, date, author, subject, body, names = record.split(_FIELD, 6)
            files = tuple(name for name in names.strip().splitlines() if name)
            commits.append(
                MemoryCommit(
                    revision=revision,
                    short=short,
                    committed_at=datetime.fromisoformat(date),
                    author=author,
                    subject=subject,
                    body=body.strip(),
                    files=files,
                )
            )
        return commits

    def find_by_trailer(self, trailer: str, value: str) -> str | None:
        """The newest commit whose final trailer block says "<trailer>: <value>", if any."""
        if not self.is_repository:
            return None
        found = self._run(
            "log",
            "--fixed-strings",
            f"--grep={trailer}: {value}",
            f"--format={_RECORD}%H{_FIELD}%B",
            check=False,
        )
        if found.returncode != 0:
            return None
        for record in found.stdout.split(_RECORD)[1:]:
            revision, message = record.split(_FIELD, 1)
            if value in trailers(message).get(trailer, []):
                return revision
        return None

    def show(self, revision: str) -> str:
        """The commit's message and diff, as `git show` prints it."""
        full = self.resolve(revision)
        return self._run("show", "--format=medium", "--no-color", full).stdout

    def export_tree(self, revision: str, destination: Path) -> str:
        """Write the memory files of `revision` into the empty folder `destination` (git
        archive: nothing in the repository or the folder changes); returns the full revision."""
        full = self.resolve(revision)
        tarball = destination.parent / f".{destination.name}.tar"
        self._run("archive", "--format=tar", f"--output={tarball.resolve()}", full)
        try:
            with tarfile.open(tarball) as archive:
                archive.extractall(destination, filter="data")
        finally:
            tarball.unlink(missing_ok=True)
        return full

    def file_at(self, revision: str, name: str) -> str | None:
        found = self._run("show", f"{self.resolve(revision)}:{name}", check=False)
        return found.stdout if found.returncode == 0 else None

    def changes_since(self, name: str, sha256: str, limit: int = 20) -> list[MemoryCommit] | None:
        """The commits that changed `name` since its text hashed to `sha256`, newest first;
        None when none of its last `limit` versions had that text."""
        commits = self.log(limit=limit, file=name)
        for index, commit in enumerate(commits):
            text = self.file_at(commit.revision, name)
            if text is not None and hashlib.sha256(text.encode("utf-8")).hexdigest() == sha256:
                return commits[:index]
        return None

    def newest_ambient_change(self) -> str | None:
        """The newest change ambient applied (a commit with an Ambient-Key) not undone yet."""
        if not self.is_repository:
            return None
        listing = self._run("log", f"--format={_RECORD}%H{_FIELD}%B", check=False)
        if listing.returncode != 0:
            return None  # an empty repository has no HEAD yet
        undone: set[str] = set()  # full revisions, or short ones of undos from before trailers
        for record in listing.stdout.split(_RECORD)[1:]:
            revision, message = record.split(_FIELD, 1)
            if any(revision.startswith(target) for target in undone):
                continue  # an undone undo does not count: what it reverted is back
            target = undo_target(message)
            if target is not None:
                undone.add(target)
            elif CHANGE_TRAILER in trailers(message):
                return revision
        return None

    # ---- undo -------------------------------------------------------------------------------
    def undo(self, revision: str | None = None) -> MemoryCommit:
        """Revert one commit with a new commit: `revision`, or else ambient's newest change not
        undone yet — never a user's edit. The user's pending edits are committed first and
        kept; when the revert would touch their lines it is refused and nothing else changes."""
        if not self.is_repository:
            raise NotFoundError(f"{self.folder} has no memory history yet; nothing to undo")
        with self.locked():
            named = self.resolve(revision) if revision is not None else None  # as the user saw it
            hand_edit = self.commit_user_edits()
            full = named or self.newest_ambient_change()
            if full is None:
                raise NotFoundError(
                    "ambient made no memory change that is not undone yet; to undo your own "
                    "edit, name its revision (see `ambient memory log`)"
                )
            original = self._run("log", "-1", "--format=%h %s", full).stdout.strip()
            parents = self._run("rev-list", "--parents", "-n", "1", full).stdout.split()
            if len(parents) == 1:
                raise MemoryHistoryError(f"{original}: the start of the history cannot be undone")
            if len(parents) > 2:
                raise MemoryHistoryError(f"{original}: a merge cannot be undone here")
            reverted = self._run("revert", "--no-commit", full, check=False)
            if reverted.returncode != 0:
                self._run("revert", "--abort", check=False)
                kept = f" (your edit is kept, as {hand_edit[:10]})" if hand_edit else ""
                raise MemoryHistoryError(
                    f"cannot undo {original}: later changes touch the same lines{kept}; "
                    "undo those first (newest first) or edit the file by hand"
                )
            message = f"memory: undo {original}\n\n{UNDOES_TRAILER}: {full}\n"
            revision_made = self.commit_all(message)
            if revision_made is None:
                self._run("revert", "--quit", check=False)
                raise MemoryHistoryError(f"undoing {original} changes nothing")
            self._run("revert", "--quit", check=False)
            log.info("memory: undid %s as %s", original, revision_made[:10])
            made = self.log(limit=1)[0]
            if self.audit is not None:  # under the lock: no catch-up elsewhere enters it too
                self.audit.undone(files=made.files, revision=made.revision, undone_revision=full)
        return made


def trailers(message: str) -> dict[str, list[str]]:
    """The trailers of a commit message: its last paragraph, when that is not the subject and
    every line of it is ``Key: value`` (an indented line never is)."""
    paragraphs = [part for part in re.split(r"\n[ \t]*\n", message.strip()) if part.strip()]
    if len(paragraphs) < 2:
        return {}
    found: dict[str, list[str]] = {}
    for line in paragraphs[-1].splitlines():
        match = _TRAILER_LINE.match(line.rstrip())
        if match is None:
            return {}
        found.setdefault(match.group(1), []).append(match.group(2))
    return found


def undo_target(message: str) -> str | None:
    """What an undo commit ambient made reverted (a full revision, or a short one from undos
    made before they carried the trailer); None for any other commit."""
    subject = _UNDO_SUBJECT.match(message)
    found = trailers(message)
    if subject is None or CHANGE_TRAILER in found:
        return None
    targets = found.get(UNDOES_TRAILER)
    return targets[-1] if targets else subject.group(1)


def is_hand_edit(message: str) -> bool:
    """Whether ambient committed this as the user's own edit (:meth:`commit_user_edits`)."""
    return message.startswith(HAND_EDIT_SUBJECT) and not trailers(message)


def neutralised(text: str) -> str:
    """Model-written text for a commit message, each ``Key: value``-shaped line indented so it
    can never be read as a trailer."""
    return "\n".join(
        f"  {line}" if _TRAILER_LINE.match(line) else line for line in text.splitlines()
    )
