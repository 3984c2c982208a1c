"""Acting on one message of a Maildir ambient owns: move it between folders, set or clear a flag.

Folders are Maildir++ (as Dovecot and Courier keep them): the inbox is the Maildir itself, a
folder ``Archive`` is its subdirectory ``.Archive/`` (``Lists/Rust`` or ``Lists.Rust`` is
``.Lists.Rust/``), each with its own ``cur/``, ``new/`` and ``tmp/``. Flags are the letters
after ``:2,`` in the file name (``F`` flagged, ``S`` seen), kept in ASCII order. A message is
found by its Maildir key (the file name before the ``:``), which no rename changes.

Every change is one ``rename`` within the Maildir, which is atomic: after a crash the file is in
one place or the other, never both and never neither, so running the action again finds it
where it is and changes nothing more. Nothing here deletes a file. Keywords have no standard
Maildir form: a keyword is refused (it is for IMAP accounts).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from ambient.mail.mailbox_changes import FLAGGED, SEEN, ActionRefused, ChangeOutcome
from ambient.sources.maildir import maildir_key

INBOX = "INBOX"
INFO = ":2,"
FLAG_LETTERS = {FLAGGED.lower(): "F", SEEN.lower(): "S"}
_PART = re.compile(r"^[^\x00-\x1f/\\]+$")


def folder_path(root: Path, folder: str) -> Path:
    """The directory of a Maildir++ folder (``INBOX``: the Maildir itself)."""
    if folder.upper() == INBOX:
        return root
    parts = re.split(r"[./]", folder)
    if not all(part.strip() and _PART.match(part) for part in parts):
        raise ActionRefused(f"{folder!r} is not a Maildir folder name")
    return root / ("." + ".".join(parts))


def _flags(name: str) -> str:
    _key, separator, info = name.partition(INFO)
    return info if separator else ""


def _named(key: str, flags: str) -> str:
    return f"{key}{INFO}{''.join(sorted(set(flags)))}"


def _find_in(folder: Path, key: str) -> Path | None:
    for subdir in ("cur", "new"):
        try:
            names = os.listdir(folder / subdir)
        except FileNotFoundError:
            continue
        for name in names:
            if not name.startswith(".") and maildir_key(name) == key:
                return folder / subdir / name
    return None


def find(root: Path, key: str, folders: Sequence[str]) -> tuple[str, Path] | None:
    """The folder and the file holding the message, looked for in `folders` in order."""
    for folder in dict.fromkeys(folders):
        path = _find_in(folder_path(root, folder), key)
        if path is not None:
            return folder, path
    return None


def _sync_directories(*directories: Path) -> None:
    for directory in dict.fromkeys(directories):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _rename(source: Path, target: Path) -> None:
    os.rename(source, target)
    _sync_directories(source.parent, target.parent)


def ensure_folder(root: Path, folder: str, *, create: bool) -> bool:
    """True when the folder had to be created; ActionRefused when it is missing and may not be."""
    path = folder_path(root, folder)
    if all((path / subdir).is_dir() for subdir in ("cur", "new", "tmp")):
        return False
    if not create:
        raise ActionRefused(
            f"there is no Maildir folder {folder!r} ({path.name}/): create it, or set "
            "policy.create_folders = true"
        )
    for subdir in ("cur", "new", "tmp"):
        (path / subdir).mkdir(parents=True, exist_ok=True)
    if path != root:
        (path / "maildirfolder").touch()
    _sync_directories(root)
    return True


def move(
    root: Path,
    key: str,
    folder: str,
    *,
    folders: Sequence[str] = (INBOX,),
    create_folder: bool = False,
) -> ChangeOutcome:
    """Move the message into `folder`'s ``cur/``, unless it is there already; it is looked for
    in `folders` in order (its mailbox first, then where an earlier move may have put it)."""
    created = ensure_folder(root, folder, create=create_folder)
    details: dict[str, object] = {"folder": folder, "key": key}
    if created:
        details["created_folder"] = True
    target = folder_path(root, folder)
    if _find_in(target, key) is not None:
        return ChangeOutcome(False, f"already in {folder}", {"mailbox": folder, **details})
    found = find(root, key, [name for name in folders if name != folder])
    if found is None:
        looked = ", ".join(dict.fromkeys([*folders, folder]))
        raise ActionRefused(f"{key} is not in {looked}: moved or deleted elsewhere")
    mailbox, source = found
    _rename(source, target / "cur" / _named(key, _flags(source.name)))
    return ChangeOutcome(True, f"moved to {folder}", {"mailbox": mailbox, **details})


def set_flag(
    root: Path, key: str, flag: str, present: bool, *, folders: Sequence[str] = (INBOX,)
) -> ChangeOutcome:
    """Set (`present`) or clear \\Flagged or \\Seen in the file name, unless it is so already;
    the message is looked for in `folders` in order (its mailbox first)."""
    letter = FLAG_LETTERS.get(flag.lower())
    if letter is None:
        raise ActionRefused(f"a Maildir keeps no keyword such as {flag}: keywords are for IMAP")
    found = find(root, key, folders)
    if found is None:
        looked = ", ".join(dict.fromkeys(folders))
        raise ActionRefused(f"{key} is not in {looked}: moved or deleted elsewhere")
    folder, path = found
    details: dict[str, object] = {"mailbox": folder, "key": key, "flag": flag, "present": present}
    flags = _flags(path.name)
    state = "set" if present else "cleared"
    if (letter in flags) == present:
        return ChangeOutcome(False, f"{flag} already {state}", details)
    wanted = flags + letter if present else flags.replace(letter, "")
    _rename(path, path.parent.parent / "cur" / _named(key, wanted))
    return ChangeOutcome(True, f"{flag} {state}", details)
