"""Path safety: every memory file name resolves to a markdown file inside the memory folder.

Names come from the user (CLI), from a model (the agent's read tools, reflection proposals) and
from approval rows, so none of them is trusted: absolute paths, ``..``, hidden entries (the
folder's own ``.git``) and symlinks that lead out of the folder are refused with a clear error.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from ambient.core.errors import AmbientError

MEMORY_SUFFIX = ".md"


class MemoryPathError(AmbientError):
    """A memory file name that would read or write outside the memory folder."""


def normalise_name(name: str) -> str:
    """The canonical relative name of a memory file ("triage_rules" -> "triage_rules.md")."""
    text = name.strip()
    if not text:
        raise MemoryPathError("memory file name is empty; expected e.g. 'triage_rules.md'")
    if "\x00" in text:
        raise MemoryPathError(f"memory file name {name!r} contains a NUL character")
    if text.startswith("~") or PurePosixPath(text).is_absolute() or PureWindowsPath(text).anchor:
        raise MemoryPathError(
            f"memory file {name!r}: absolute paths are not allowed; "
            "give a name relative to the memory folder, e.g. 'contacts.md'"
        )
    parts = [part for part in text.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts:
        raise MemoryPathError(f"memory file name {name!r} names no file")
    for part in parts:
        if part == "..":
            raise MemoryPathError(f"memory file {name!r}: '..' is not allowed in memory paths")
        if part.startswith("."):
            raise MemoryPathError(f"memory file {name!r}: hidden files and folders are not memory")
    relative = "/".join(parts)
    if not relative.endswith(MEMORY_SUFFIX):
        if "." in parts[-1]:
            raise MemoryPathError(f"memory file {name!r}: memory files are markdown (*.md)")
        relative += MEMORY_SUFFIX
    return relative


def resolve_in_folder(folder: Path, name: str) -> Path:
    """The real path of memory file `name`; raises MemoryPathError if it would leave `folder`.

    Symlinks are followed: one that points at another file inside the folder is fine, one that
    points anywhere else is refused.
    """
    relative = normalise_name(name)
    root = folder.resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root):
        raise MemoryPathError(
            f"memory file {name!r} resolves to {candidate}, outside the memory folder {root}"
        )
    inside = candidate.relative_to(root)
    if any(part.startswith(".") for part in inside.parts):
        raise MemoryPathError(f"memory file {name!r} resolves into a hidden folder of {root}")
    return candidate


def relative_name(folder: Path, path: Path) -> str:
    """The name a user sees for a file found inside the folder (posix separators)."""
    return path.relative_to(folder).as_posix()
