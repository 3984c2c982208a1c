"""Markdown structure of a memory file: its headings, and the text under one of them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ambient.core.errors import NotFoundError

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    line: int  # 1-based
    end_line: int  # last line of the section (subsections included)


def parse_headings(text: str) -> list[Heading]:
    """ATX headings outside fenced code blocks, each with the extent of its section."""
    lines = text.splitlines()
    found: list[tuple[int, str, int]] = []
    fence: str | None = None
    for number, text_line in enumerate(lines, start=1):
        marker = _FENCE.match(text_line)
        if marker:
            token = marker.group(1)
            if fence is None:
                fence = token[0] * 3
            elif token.startswith(fence):
                fence = None
            continue
        if fence is not None:
            continue
        match = _HEADING.match(text_line)
        if match:
            found.append((len(match.group(1)), match.group(2).strip(), number))
    headings: list[Heading] = []
    for index, (level, title, line) in enumerate(found):
        end = len(lines)
        for other_level, _, other_line in found[index + 1 :]:
            if other_level <= level:
                end = other_line - 1
                break
        headings.append(Heading(level=level, title=title, line=line, end_line=end))
    return headings


def _key(title: str) -> str:
    return " ".join(title.strip().lstrip("#").split()).casefold()


def find_heading(file: str, headings: list[Heading], wanted: str) -> Heading:
    """The heading matching `wanted` exactly (case and spacing aside), else by unique substring."""
    key = _key(wanted)
    exact = [heading for heading in headings if _key(heading.title) == key]
    if exact:
        return exact[0]
    partial = [heading for heading in headings if key and key in _key(heading.title)]
    if len(partial) == 1:
        return partial[0]
    available = ", ".join(repr(heading.title) for heading in headings) or "none"
    if len(partial) > 1:
        raise NotFoundError(
            f"{file}: heading {wanted!r} is ambiguous; headings in this file: {available}"
        )
    raise NotFoundError(f"{file}: no heading {wanted!r}; headings in this file: {available}")


def section_text(text: str, heading: Heading) -> str:
    lines = text.splitlines()
    return "\n".join(lines[heading.line - 1 : heading.end_line]).rstrip() + "\n"
