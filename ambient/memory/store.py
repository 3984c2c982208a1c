"""The memory folder: markdown files the user owns, read fresh whenever they change.

A file is re-read when its size, mtime or inode changes (and always while its mtime is too
recent to trust, as git does with "racy" entries); an unchanged hash keeps the parsed copy. A
missing or unreadable file is logged once, shown by ``ambient memory list`` and skipped; a
missing folder means empty memory, never a crash.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from stat import S_ISREG

from ambient.core.diffs import sha256_text
from ambient.core.errors import AmbientError, NotFoundError
from ambient.core.paths import UnsafePath
from ambient.memory.history import MemoryHistory, git_available
from ambient.memory.names import normalise_name, resolve_in_folder
from ambient.memory.sections import Heading, find_heading, parse_headings, section_text
from ambient.models.conversation import estimate_tokens

log = logging.getLogger(__name__)

TEMPLATE_NAMES = ("profile.md", "triage_rules.md", "writing_style.md", "contacts.md")
MAX_FILE_BYTES = 512 * 1024
SECTION_MAX_CHARS = 8_000
_RACY_NANOSECONDS = 2_000_000_000
_FOLDER = "<folder>"


class MemoryReadError(AmbientError):
    """A memory file exists but cannot be used (permissions, encoding, size)."""


@dataclass(frozen=True)
class MemoryFile:
    name: str
    path: Path
    text: str
    sha256: str
    headings: tuple[Heading, ...]
    modified: datetime

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)


@dataclass(frozen=True)
class MemoryFileStatus:
    name: str
    status: str  # "ok" | "missing" | "unreadable"
    size: int | None = None
    tokens: int | None = None
    modified: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class SearchHit:
    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


@dataclass
class _Cached:
    signature: tuple[int, int, int]  # (mtime_ns, size, inode)
    read_at_ns: int
    file: MemoryFile


def _order(name: str) -> tuple[int, str]:
    return (TEMPLATE_NAMES.index(name) if name in TEMPLATE_NAMES else len(TEMPLATE_NAMES), name)


class MemoryStore:
    """Read access to the memory folder, plus seeding it for `ambient init`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, _Cached] = {}
        self._problems: dict[str, str] = {}
        self._lock = threading.Lock()

    # ---- problems are logged once ---------------------------------------------------------
    def _report(self, name: str, problem: str) -> None:
        with self._lock:
            if self._problems.get(name) == problem:
                return
            self._problems[name] = problem
        level = logging.ERROR if name == _FOLDER else logging.WARNING
        log.log(level, "memory: %s", problem)

    def _clear(self, name: str) -> None:
        with self._lock:
            cleared = self._problems.pop(name, None)
        if cleared is not None:
            log.info("memory: %s is usable again", name if name != _FOLDER else self.folder)

    # ---- listing ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every markdown file in the folder (hidden folders aside), templates first."""
        if not self.folder.is_dir():
            self._report(
                _FOLDER,
                f"memory folder {self.folder} is missing: the agent runs with empty memory "
                "until it is back (`ambient init` recreates it)",
            )
            return []
        self._clear(_FOLDER)
        found: list[str] = []
        for directory, subdirectories, files in os.walk(self.folder):
            subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
            base = Path(directory)
            for name in files:
                if name.endswith(".md") and not name.startswith("."):
                    found.append((base / name).relative_to(self.folder).as_posix())
        return sorted(found, key=_order)

    def load(self, name: str) -> MemoryFile:
        """One file, fresh if it changed on disk; NotFoundError / MemoryReadError otherwise."""
        relative = normalise_name(name)
        path = resolve_in_folder(self.folder, relative)
        try:
            stat = path.stat()
        except FileNotFoundError:
            with self._lock:
                self._cache.pop(relative, None)
            raise NotFoundError(
                f"memory file {relative!r} does not exist in {self.folder}"
            ) from None
        except OSError as error:
            raise MemoryReadError(f"memory file {relative!r}: {error.strerror}") from error
        if not S_ISREG(stat.st_mode):
            raise MemoryReadError(f"memory file {relative!r} is not a regular file")
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        now_ns = time.time_ns()
        with self._lock:
            cached = self._cache.get(relative)
        if (
            cached is not None
            and cached.signature == signature
            and cached.read_at_ns - stat.st_mtime_ns > _RACY_NANOSECONDS
        ):
            return cached.file
        if stat.st_size > MAX_FILE_BYTES:
            raise MemoryReadError(
                f"memory file {relative!r} is {stat.st_size} bytes; memory files are limited "
                f"to {MAX_FILE_BYTES // 1024} KiB (split it into several files)"
            )
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise MemoryReadError(
                f"memory file {relative!r} is not UTF-8 text (byte {error.start})"
            ) from error
        except OSError as error:
            raise MemoryReadError(f"memory file {relative!r}: {error.strerror}") from error
        digest = sha256_text(text)
        if cached is not None and cached.file.sha256 == digest:
            memory_file = cached.file
        else:
            memory_file = MemoryFile(
                name=relative,
                path=path,
                text=text,
                sha256=digest,
                headings=tuple(parse_headings(text)),
                modified=datetime.fromtimestamp(stat.st_mtime_ns / 1e9, UTC),
            )
        with self._lock:
            self._cache[relative] = _Cached(signature, now_ns, memory_file)
        return memory_file

    def files(self) -> list[MemoryFile]:
        """Every usable file; the others are reported once and skipped."""
        usable: list[MemoryFile] = []
        for name in self.names():
            try:
                usable.append(self.load(name))
            except (NotFoundError, MemoryReadError, UnsafePath) as error:
                self._report(name, str(error))
                continue
            self._clear(name)
        return usable

    def status(self) -> list[MemoryFileStatus]:
        """What `ambient memory list` shows: every file, and the templates that are missing."""
        rows: list[MemoryFileStatus] = []
        names = self.names()
        for name in names:
            try:
                memory_file = self.load(name)
            except (NotFoundError, MemoryReadError, UnsafePath) as error:
                self._report(name, str(error))
                rows.append(MemoryFileStatus(name=name, status="unreadable", error=str(error)))
                continue
            self._clear(name)
            rows.append(
                MemoryFileStatus(
                    name=name,
                    status="ok",
                    size=len(memory_file.text.encode("utf-8")),
                    tokens=memory_file.tokens,
                    modified=memory_file.modified,
                )
            )
        for name in TEMPLATE_NAMES:
            if name not in names:
                rows.append(
                    MemoryFileStatus(name=name, status="missing", error="file does not exist")
                )
        return sorted(rows, key=lambda row: _order(row.name))

    # ---- reading for the agent --------------------------------------------------------------
    def read(self, name: str) -> str:
        return self.load(name).text

    def sha256(self, name: str) -> str:
        return self.load(name).sha256

    def sections(self, name: str) -> list[Heading]:
        return list(self.load(name).headings)

    def read_section(
        self, file: str, heading: str | None = None, max_chars: int = SECTION_MAX_CHARS
    ) -> str:
        """The text under one heading (subsections included), or the whole file if None.

        Bounded to `max_chars`, with a visible marker where it was cut.
        """
        memory_file = self.load(file)
        if heading is None or not heading.strip():
            text = memory_file.text
        else:
            found = find_heading(memory_file.name, list(memory_file.headings), heading)
            text = section_text(memory_file.text, found)
        if len(text) > max_chars:
            cut = text[:max_chars].rsplit("\n", 1)[0]
            text = f"{cut}\n[… truncated at {max_chars} characters; read a smaller section]\n"
        return text

    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Lines containing every word of the query (case-insensitive), as file:line hits.

        When no line has them all, lines with the most of them come back instead.
        """
        terms = [term for term in query.casefold().split() if term]
        if not terms:
            return []
        scored: list[tuple[int, int, SearchHit]] = []
        for order, memory_file in enumerate(self.files()):
            for number, line in enumerate(memory_file.text.splitlines(), start=1):
                folded = line.casefold()
                matched = sum(1 for term in terms if term in folded)
                if matched:
                    hit = SearchHit(memory_file.name, number, line.strip()[:240])
                    scored.append((matched, order, hit))
        if not scored:
            return []
        best = max(matched for matched, _, _ in scored)
        wanted = len(terms) if best == len(terms) else best
        hits = [hit for matched, _, hit in scored if matched >= wanted]
        return hits[:limit]

    def prompt_context(self, budget_tokens: int, inline_file_max_tokens: int = 1_500) -> str:
        """The memory as it goes into a prompt, within `budget_tokens` (see context.py)."""
        from ambient.memory.context import build_prompt_context

        return build_prompt_context(self.files(), budget_tokens, inline_file_max_tokens)

    # ---- ambient init -----------------------------------------------------------------------
    def seed(self) -> list[Path]:
        """Create the folder, the missing templates and the git history; never overwrite.

        Returns what was created (nothing on a second run).
        """
        created: list[Path] = []
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True)
            created.append(self.folder)
        templates = resources.files("ambient") / "templates" / "memory"
        for name in TEMPLATE_NAMES:
            target = self.folder / name
            if target.exists() or target.is_symlink():
                continue
            target.write_text((templates / name).read_text("utf-8"), encoding="utf-8")
            created.append(target)
        if not git_available():
            log.warning("memory: git is not installed; memory changes will have no history")
            return created
        history = MemoryHistory(self.folder)
        if history.ensure_repository():  # its first commit holds everything in the folder
            created.append(self.folder / ".git")
        elif created:
            names = [path.name for path in created if path.parent == self.folder]
            with history.locked():
                history.commit_paths(f"memory: add missing templates {', '.join(names)}", names)
        return created
