"""Which lines of a message body its sender wrote, and which quote earlier mail or sign it.

Two readers need this: the prompt (:func:`trim_quoted` drops quoted history with a visible
marker, keeping short inline quotes for context) and style learning (:func:`own_text`: only
what the sender wrote in this message: no quotes, no history, no ``-- `` signature).
"""

from __future__ import annotations

import re

QUOTED_RUN_KEEP = 2

_WROTE = r"(wrote|schrieb|a écrit|escribió|schreef)"
_ATTRIBUTION = re.compile(r"^\s*(on|am|le|el|op)\b.{0,300}\b" + _WROTE + r"\s*:\s*$", re.I)
_ATTRIBUTION_END = re.compile(r"^.{0,200}\b" + _WROTE + r"\s*:\s*$", re.I)
_ORIGINAL = re.compile(r"^\s*(-{3,}\s*original message\s*-{3,}|_{20,})\s*$", re.I)
_FORWARDED = re.compile(r"^\s*-{3,}\s*(forwarded message|weitergeleitete nachricht)", re.I)
_SIGNATURE_DELIMITER = ("-- ", "--")
_DEVICE_FOOTER = re.compile(r"^\s*(sent from my|gesendet von meinem|envoyé de mon)\b", re.I)


def is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def history_start(lines: list[str]) -> int | None:
    """Where quoted earlier messages begin, if the rest of the body is only that history."""
    for index, line in enumerate(lines):
        if _ORIGINAL.match(line):
            return index
        two_line = (
            index + 1 < len(lines)
            and line.lstrip().lower().startswith("on ")
            and _ATTRIBUTION_END.match(lines[index + 1]) is not None
        )
        if _ATTRIBUTION.match(line) or two_line:
            rest = [text for text in lines[index + (2 if two_line else 1) :] if text.strip()]
            if all(is_quoted(text) for text in rest):
                return index
    return None


def trim_quoted(text: str) -> str:
    """Drop quoted history with a visible marker; keep short inline quotes for context."""
    lines = text.splitlines()
    tail_marker = None
    start = history_start(lines)
    if start is not None:
        tail_marker = f"[… earlier messages in the thread trimmed: {len(lines) - start} lines …]"
        lines = lines[:start]
    kept: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) <= QUOTED_RUN_KEEP + 1:
            kept.extend(run)
        else:
            kept.extend(run[:QUOTED_RUN_KEEP])
            kept.append(f"[… {len(run) - QUOTED_RUN_KEEP} more quoted lines trimmed …]")
        run.clear()

    for line in lines:
        if is_quoted(line):
            run.append(line)
            continue
        flush()
        kept.append(line)
    flush()
    while kept and not kept[-1].strip():
        kept.pop()
    if tail_marker:
        kept.append(tail_marker)
    return "\n".join(kept)


def _attributions(lines: list[str]) -> set[int]:
    """The lines of "On …, Dana wrote:" (one or two lines) that introduce quoted lines."""
    found: set[int] = set()
    for index, line in enumerate(lines):
        if not _ATTRIBUTION_END.match(line):
            continue
        after = next((text for text in lines[index + 1 :] if text.strip()), "")
        if is_quoted(after):
            found.add(index)
            if index and not _ATTRIBUTION.match(line):
                if lines[index - 1].lstrip().lower().startswith("on "):
                    found.add(index - 1)
    return found


def own_text(text: str) -> str:
    """What the sender wrote in this message: the body without quoted history (attribution
    lines and ``>`` lines, inline quotes too), forwarded or "original message" blocks, the
    signature after a ``-- `` line, and "Sent from my …" device footers."""
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        if line in _SIGNATURE_DELIMITER or _ORIGINAL.match(line) or _FORWARDED.match(line):
            lines = lines[:index]
            break
    skipped = _attributions(lines)
    kept = [
        line.rstrip()
        for index, line in enumerate(lines)
        if index not in skipped and not is_quoted(line) and not _DEVICE_FOOTER.match(line)
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
