"""Paths an action may touch: relative, inside their folder, no way out through `..` or links."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath


class UnsafePath(ValueError):
    """The path would leave its folder (absolute, `..`, a link out) or is not a plain name."""


def check_relative(relative: str) -> PurePosixPath:
    """The path as parts, refused when it is absolute, climbs out, or names a hidden file."""
    if not relative or not relative.strip():
        raise UnsafePath("the path is empty")
    if "\0" in relative or "\\" in relative:
        raise UnsafePath(f"{relative!r}: contains a NUL or a backslash")
    if PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).anchor:
        raise UnsafePath(f"{relative!r}: absolute paths are not allowed")
    path = PurePosixPath(relative)
    for part in path.parts:
        if part == "..":
            raise UnsafePath(f"{relative!r}: '..' is not allowed")
        if part.startswith("."):
            raise UnsafePath(f"{relative!r}: hidden names are not allowed")
    return path


def resolve_inside(root: Path, relative: str) -> Path:
    """The absolute path of `relative` inside `root`, following links that already exist.

    Raises UnsafePath when the result is outside `root` (a symlink pointing out) or when the
    target itself is a symlink.
    """
    parts = check_relative(relative)
    base = root.resolve()
    candidate = base.joinpath(*parts.parts)
    resolved = candidate.resolve()
    if not resolved.is_relative_to(base) or resolved == base:
        raise UnsafePath(f"{relative!r}: resolves outside {root}")
    if candidate.is_symlink():
        raise UnsafePath(f"{relative!r}: is a symbolic link")
    return resolved
