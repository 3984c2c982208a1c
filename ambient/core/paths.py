"""One rule for names inside a folder (notes, attachments, memory files): no way out.

Names come from the user, from a model and from approval rows, so none of them is trusted:
empty names, NUL bytes, backslashes, absolute or home paths, `..`, hidden entries (a folder's
own `.git`) and links that lead out of the folder or into a hidden entry are refused. A link
to another file inside the folder is followed.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from ambient.core.errors import AmbientError


class UnsafePath(AmbientError):
    """A name that would leave its folder (absolute, `..`, a link out) or is not a plain name."""


def _named(relative: str, noun: str) -> str:
    return f"{noun} {relative!r}" if noun else repr(relative)


def check_relative(relative: str, *, noun: str = "") -> PurePosixPath:
    """The name as parts, refused when it is absolute, climbs out, or names a hidden entry.

    `noun` says in the messages what the name is for ("memory file '../x.md': …").
    """
    named = _named(relative, noun)
    if not relative or not relative.strip():
        raise UnsafePath("the path is empty")
    if "\0" in relative or "\\" in relative:
        raise UnsafePath(f"{named}: contains a NUL or a backslash")
    if (
        relative.startswith("~")
        or PurePosixPath(relative).is_absolute()
        or PureWindowsPath(relative).anchor
    ):
        raise UnsafePath(f"{named}: absolute paths are not allowed")
    path = PurePosixPath(relative)
    for part in path.parts:
        if part == "..":
            raise UnsafePath(f"{named}: '..' is not allowed")
        if part.startswith("."):
            raise UnsafePath(f"{named}: hidden names are not allowed")
    return path


def resolve_inside(
    root: Path, relative: str, *, noun: str = "", folder: str = "", follow_links: bool = True
) -> Path:
    """The real path of `relative` inside `root`, following links that already exist.

    Raises UnsafePath when the result is outside `root` (a link pointing out), is `root`
    itself, or lies in a hidden entry of it. `folder` names `root` in that message
    ("… resolves outside the memory folder /home/me/memory"). With `follow_links=False` the
    path itself may not be a link (a note written or attached is the file the human saw
    named, never what a link points to).
    """
    parts = check_relative(relative, noun=noun)
    base = root.resolve()
    if not follow_links and base.joinpath(*parts.parts).is_symlink():
        raise UnsafePath(f"{_named(relative, noun)}: is a symbolic link")
    resolved = base.joinpath(*parts.parts).resolve()
    named, where = _named(relative, noun), f"the {folder} {base}" if folder else str(root)
    if not resolved.is_relative_to(base) or resolved == base:
        raise UnsafePath(f"{named}: resolves outside {where}")
    if any(part.startswith(".") for part in resolved.relative_to(base).parts):
        raise UnsafePath(f"{named}: resolves into a hidden entry of {where}")
    return resolved
