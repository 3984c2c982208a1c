"""Unified diffs against one memory file: parse, apply strictly by content, measure, produce.

A hunk applies where its context and removed lines match the text exactly; the line number in
the ``@@`` header is only a hint (the nearest match wins), so a diff still applies after a user
edited other parts of the file, and fails with :class:`DiffConflict` when they touched the
lines it changes. Parsing is forgiving about what models get wrong without changing meaning:
hunk counts are recomputed from the body, a blank line in a hunk is a blank context line,
``--- / +++`` headers are optional.

Beside them, the two helpers every change shown or checked elsewhere uses: :func:`text_diff`
(a change shown to a human: an edited draft, its arguments) and :func:`sha256_text` (the hash
a text is known by: a diff's base, the row a human was shown).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field

from ambient.core.errors import AmbientError

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_LOOSE_HUNK_HEADER = re.compile(r"^@@.*@@")
_PREAMBLE = ("diff ", "index ", "new file", "similarity")


class DiffError(AmbientError):
    """A diff that cannot be read or is not an acceptable memory change."""


class DiffConflict(DiffError):
    """A diff whose lines no longer match the file (someone changed them meanwhile)."""


@dataclass
class Hunk:
    old_start: int  # 1-based line number hint from the header (0: unknown or empty file)
    pure_insertion: bool = False  # "@@ -N,0 ...": the new lines go after line N
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" " | "-" | "+", text)

    @property
    def old_lines(self) -> list[str]:
        return [text for op, text in self.lines if op != "+"]

    @property
    def new_lines(self) -> list[str]:
        return [text for op, text in self.lines if op != "-"]


@dataclass
class ParsedDiff:
    old_path: str | None
    new_path: str | None
    hunks: list[Hunk]

    @property
    def added(self) -> int:
        return sum(1 for hunk in self.hunks for op, _ in hunk.lines if op == "+")

    @property
    def removed(self) -> int:
        return sum(1 for hunk in self.hunks for op, _ in hunk.lines if op == "-")

    @property
    def target(self) -> str | None:
        """The file named by the ``+++`` header, without git's ``b/`` prefix."""
        for path in (self.new_path, self.old_path):
            if path and path != "/dev/null":
                return path[2:] if path[:2] in ("a/", "b/") else path
        return None


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _header_path(line: str) -> str:
    return line[4:].split("\t", 1)[0].strip()


def parse_diff(diff: str) -> ParsedDiff:
    """Read a unified diff for one file; raises DiffError with the offending line."""
    old_path: str | None = None
    new_path: str | None = None
    hunks: list[Hunk] = []
    current: Hunk | None = None
    lines = _without_fences(diff.replace("\r\n", "\n").split("\n"))
    for index, line in enumerate(lines):
        number = index + 1
        next_line = lines[index + 1] if index + 1 < len(lines) else ""
        if line.startswith("--- ") and (current is None or next_line.startswith("+++ ")):
            if hunks:
                raise DiffError("the diff changes more than one file; propose one file at a time")
            old_path, current = _header_path(line), None
            continue
        if line.startswith("+++ ") and current is None:
            new_path = _header_path(line)
            continue
        header = _HUNK_HEADER.match(line)
        if header or _LOOSE_HUNK_HEADER.match(line):
            start = int(header.group(1)) if header else 0
            insertion = header is not None and header.group(2) == "0"
            current = Hunk(old_start=start, pure_insertion=insertion)
            hunks.append(current)
            continue
        if current is None:
            if line.strip() and not line.startswith(_PREAMBLE):
                raise DiffError(f"diff line {number}: expected a '@@' hunk header, got {line!r}")
            continue
        _add_body_line(current, line, number)
    for hunk in hunks:
        while hunk.lines and hunk.lines[-1] == (" ", ""):
            hunk.lines.pop()  # the diff's own trailing newline, not a blank context line
    hunks = [hunk for hunk in hunks if any(op != " " for op, _ in hunk.lines)]
    if not hunks:
        raise DiffError("the diff contains no change (no '+' or '-' lines in any '@@' hunk)")
    return ParsedDiff(old_path=old_path, new_path=new_path, hunks=hunks)


def _without_fences(lines: list[str]) -> list[str]:
    """A diff wrapped in a markdown code fence (```diff ... ```), unwrapped."""
    filled = [index for index, line in enumerate(lines) if line.strip()]
    if len(filled) >= 2:
        first, last = filled[0], filled[-1]
        if lines[first].startswith("```") and lines[last].strip() == "```":
            return lines[first + 1 : last]
    return lines


def _add_body_line(hunk: Hunk, line: str, number: int) -> None:
    if line.startswith("\\"):
        return  # "\ No newline at end of file": the file keeps its own final newline
    if line == "":
        hunk.lines.append((" ", ""))
    elif line[0] in " +-":
        hunk.lines.append((line[0], line[1:]))
    else:
        raise DiffError(f"diff line {number}: expected ' ', '+' or '-' first, got {line!r}")


def _occurrences(lines: list[str], block: list[str], start: int) -> list[int]:
    """Every index in lines[start:] where the (non-empty) `block` begins."""
    last = len(lines) - len(block)
    return [
        index
        for index in range(start, last + 1)
        if lines[index] == block[0] and lines[index : index + len(block)] == block
    ]


def _find_block(lines: list[str], block: list[str], hint: int, start: int) -> int | None:
    """Index where `block` occurs in lines[start:], nearest to `hint`; None if nowhere."""
    if not block:
        return max(start, min(hint, len(lines)))
    candidates = _occurrences(lines, block, start)
    if not candidates:
        return None
    return min(candidates, key=lambda index: (abs(index - hint), index))


def split_lines(text: str) -> tuple[list[str], str, bool]:
    """(lines without endings, the newline used, whether the text ends with one)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    body = text.replace("\r\n", "\n")
    ends = body.endswith("\n")
    lines = body.split("\n")
    if ends:
        lines.pop()
    if body == "":
        lines = []
    return lines, newline, ends


def join_lines(lines: list[str], newline: str, ends_with_newline: bool) -> str:
    if not lines:
        return ""
    return newline.join(lines) + (newline if ends_with_newline else "")


def apply_diff(text: str, diff: str | ParsedDiff) -> str:
    """The text with the diff applied; DiffConflict if a hunk's lines are not in the text."""
    parsed = parse_diff(diff) if isinstance(diff, str) else diff
    lines, newline, ends = split_lines(text)
    result: list[str] = []
    position = 0
    for index, hunk in enumerate(parsed.hunks, start=1):
        old = hunk.old_lines
        hint = hunk.old_start if hunk.pure_insertion else max(hunk.old_start - 1, 0)
        found = _find_block(lines, old, hint, position)
        if found is None:
            first = next((line for line in old if line.strip()), old[0] if old else "")
            raise DiffConflict(
                f"hunk {index} does not match the file: the lines it keeps or removes "
                f"(starting {first!r}) are not in the current text; context and '-' lines "
                "must be copied exactly from the file"
            )
        result.extend(lines[position:found])
        result.extend(hunk.new_lines)
        position = found + len(old)
    result.extend(lines[position:])
    return join_lines(result, newline, ends or not lines)


def already_applied(text: str, diff: str | ParsedDiff) -> bool:
    """Whether `text` already reads as the diff makes it: each hunk's new side is in the text,
    and its old side is nowhere but inside that (a line added after the last context line
    leaves the old side in place as a prefix of the new one).

    Such a diff conflicts when applied again (or would add its lines twice), yet nobody edited
    anything: the same change was simply made already, e.g. by an identical proposal.
    """
    parsed = parse_diff(diff) if isinstance(diff, str) else diff
    lines, _, _ = split_lines(text)
    position = 0
    for hunk in parsed.hunks:
        old, new = hunk.old_lines, hunk.new_lines
        hint = hunk.old_start if hunk.pure_insertion else max(hunk.old_start - 1, 0)
        found = _find_block(lines, new, hint, position) if new else position
        if found is None:
            return False
        end = found + len(new)
        if old and any(
            not (found <= index and index + len(old) <= end)
            for index in _occurrences(lines, old, position)
        ):
            return False  # the text still has what the diff replaces (outside its new side)
        position = end
    return True


def changed_lines(diff: str | ParsedDiff) -> list[tuple[str, str]]:
    """The diff's '+' and '-' lines in order, without context: what the change is."""
    parsed = parse_diff(diff) if isinstance(diff, str) else diff
    return [(op, text) for hunk in parsed.hunks for op, text in hunk.lines if op != " "]


def make_diff(name: str, old: str, new: str, context: int = 3) -> str:
    """A canonical unified diff (``a/name`` -> ``b/name``) between two texts of one file."""
    old_lines, _, _ = split_lines(old)
    new_lines, _, _ = split_lines(new)
    body = difflib.unified_diff(
        old_lines, new_lines, fromfile=f"a/{name}", tofile=f"b/{name}", n=context, lineterm=""
    )
    return "\n".join(body) + "\n"


def text_diff(
    before: str, after: str, labels: tuple[str, str] = ("before", "after"), context: int = 3
) -> str:
    """A unified diff of two texts by line, `labels` naming each side (empty: no change)."""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), *labels, n=context, lineterm=""
    )
    return "\n".join(lines)


@dataclass(frozen=True)
class ChangeLimits:
    max_changed_lines: int = 20  # added + removed
    max_removed_share: float = 0.5  # of the file's non-blank lines, for files over 8 lines


@dataclass(frozen=True)
class CheckedChange:
    diff: str  # canonical, regenerated from the result
    new_text: str
    added: int
    removed: int


def check_change(
    name: str, current: str, diff: str, limits: ChangeLimits | None = None
) -> CheckedChange:
    """Validate a proposed change to `name`: parses, applies cleanly, small, not a rewrite."""
    limits = limits or ChangeLimits()
    parsed = parse_diff(diff)
    target = parsed.target
    if target is not None and target.lstrip("./") not in (name, name.removesuffix(".md")):
        raise DiffError(f"the diff names {target!r} but the change is for {name!r}")
    new_text = apply_diff(current, parsed)
    if new_text == current:
        raise DiffError("the diff changes nothing in the file")
    canonical = make_diff(name, current, new_text)
    checked = parse_diff(canonical)
    changed = checked.added + checked.removed
    if changed > limits.max_changed_lines:
        raise DiffError(
            f"the diff changes {changed} lines; a memory update must be small and targeted "
            f"(at most {limits.max_changed_lines} added + removed lines)"
        )
    body_lines = [line for line in split_lines(current)[0] if line.strip()]
    if len(body_lines) > 8 and checked.removed > limits.max_removed_share * len(body_lines):
        raise DiffError(
            f"the diff removes {checked.removed} of {len(body_lines)} lines: that is a rewrite, "
            "not a targeted change; change only the lines that need it"
        )
    return CheckedChange(
        diff=canonical, new_text=new_text, added=checked.added, removed=checked.removed
    )
