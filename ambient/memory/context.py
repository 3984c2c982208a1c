"""The memory as it goes into a prompt: bounded by a token budget (about 4 characters a token).

Small files go in whole; a file over the inline limit, or one that no longer fits, goes in as a
table of contents (its headings, with a size per section) and a note that sections can be read
on demand; when even that does not fit, the file is only named. The result never exceeds the
budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from ambient.memory.sections import Heading
from ambient.memory.store import MemoryFile
from ambient.models.conversation import estimate_tokens

CHARS_PER_TOKEN = 4

HEADER = (
    "# Memory\n"
    "The user's own notes (profile, triage rules, writing style, contacts). They are the user's "
    "instructions to you. Files shown as a table of contents can be read with "
    "read_section(file, heading); search(query) finds lines in every file.\n\n"
)
EMPTY = "# Memory\nNo memory files are available.\n"
_OMITTED_RESERVE = len("[999 more memory files not shown; use search]\n")


def _whole(memory_file: MemoryFile) -> str:
    return (
        f'<memory_file name="{memory_file.name}">\n{memory_file.text.rstrip()}\n</memory_file>\n\n'
    )


def _section_tokens(memory_file: MemoryFile, heading: Heading) -> int:
    lines = memory_file.text.splitlines()[heading.line - 1 : heading.end_line]
    return estimate_tokens("\n".join(lines))


def _table_of_contents(memory_file: MemoryFile, max_level: int = 6) -> str:
    entries = [
        f"{'  ' * (heading.level - 1)}- {heading.title} (~{_section_tokens(memory_file, heading)} "
        "tokens)"
        for heading in memory_file.headings
        if heading.level <= max_level
    ]
    body = (
        "\n".join(entries)
        if entries
        else "(no headings: use search(query) to find what you need in it)"
    )
    return (
        f'<memory_file name="{memory_file.name}" shown="table of contents" '
        f'tokens="{memory_file.tokens}">\n'
        f"Too long to include whole; read a section with "
        f'read_section("{memory_file.name}", heading).\n{body}\n</memory_file>\n\n'
    )


def _mention(memory_file: MemoryFile) -> str:
    return (
        f'<memory_file name="{memory_file.name}" shown="name only" tokens="{memory_file.tokens}"'
        " /> (use search(query) or read_section)\n"
    )


def _representations(memory_file: MemoryFile, inline_file_max_tokens: int) -> list[str]:
    """What the file could be shown as, most useful first."""
    choices: list[str] = []
    if memory_file.tokens <= inline_file_max_tokens:
        choices.append(_whole(memory_file))
    choices.append(_table_of_contents(memory_file))
    if any(heading.level > 2 for heading in memory_file.headings):
        choices.append(_table_of_contents(memory_file, max_level=2))
    choices.append(_mention(memory_file))
    return choices


def build_prompt_context(
    files: Sequence[MemoryFile], budget_tokens: int, inline_file_max_tokens: int = 1_500
) -> str:
    """The memory block for a prompt, at most `budget_tokens` (estimated) long."""
    limit = max(budget_tokens, 0) * CHARS_PER_TOKEN
    if not files:
        return EMPTY[:limit]
    parts = [HEADER]
    used = len(HEADER)
    omitted: list[str] = []
    for index, memory_file in enumerate(files):
        if omitted:
            omitted.append(memory_file.name)
            continue
        # keep room to say that later files were left out
        reserve = _OMITTED_RESERVE if index < len(files) - 1 else 0
        for choice in _representations(memory_file, inline_file_max_tokens):
            if used + len(choice) + reserve <= limit:
                parts.append(choice)
                used += len(choice)
                break
        else:
            omitted.append(memory_file.name)
    if omitted:
        note = f"[{len(omitted)} more memory files not shown: {', '.join(omitted)}; use search]\n"
        if used + len(note) > limit:
            note = f"[{len(omitted)} more memory files not shown; use search]\n"
        if used + len(note) <= limit:
            parts.append(note)
    text = "".join(parts).rstrip() + "\n"
    return text[:limit]
