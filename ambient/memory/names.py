"""Memory file names: a markdown file inside the memory folder, by core's safe-path rule.

A name is canonical before it is checked: surrounding spaces, `./` and empty parts go, a
backslash separates folders, and `.md` is added when the name has no suffix
("people\\alice" -> "people/alice.md"). Then `ambient.core.paths` refuses any way out.
"""

from __future__ import annotations

from pathlib import Path

from ambient.core.paths import UnsafePath, check_relative, resolve_inside

MEMORY_SUFFIX = ".md"
NOUN = "memory file"


def normalise_name(name: str) -> str:
    """The canonical relative name of a memory file ("triage_rules" -> "triage_rules.md")."""
    text = name.strip()
    if not text:
        raise UnsafePath("memory file name is empty; expected e.g. 'triage_rules.md'")
    check_relative(text.replace("\\", "/"), noun=NOUN)  # absolute, `..`, hidden, NUL
    parts = [part for part in text.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts:
        raise UnsafePath(f"memory file name {name!r} names no file")
    relative = "/".join(parts)
    if not relative.endswith(MEMORY_SUFFIX):
        if "." in parts[-1]:
            raise UnsafePath(f"memory file {name!r}: memory files are markdown (*.md)")
        relative += MEMORY_SUFFIX
    return relative


def resolve_in_folder(folder: Path, name: str) -> Path:
    """The real path of memory file `name`; raises UnsafePath if it would leave `folder`.

    Symlinks are followed: one that points at another file inside the folder is fine, one that
    points anywhere else (or into a hidden folder such as the history's `.git`) is refused.
    """
    return resolve_inside(folder, normalise_name(name), noun=NOUN, folder="memory folder")


def relative_name(folder: Path, path: Path) -> str:
    """The name a user sees for a file found inside the folder (posix separators)."""
    return path.relative_to(folder).as_posix()
