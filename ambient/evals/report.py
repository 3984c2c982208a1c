"""`eval run --report FILE.md|.html`: the totals side by side, then every item with a diff of
each draft against the text the human approved (HTML: every text escaped)."""

from __future__ import annotations

import difflib
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ambient.core.errors import InputError
from ambient.evals.agreement import DraftPair
from ambient.evals.results import ItemResult, ModelTotals
from ambient.evals.run import EvalRun

REPORT_SUFFIXES = (".md", ".html", ".htm")


@dataclass(frozen=True)
class TotalRow:
    heading: str
    value: Callable[[ModelTotals], float | int | str | None]
    share: bool = False  # shown as a percentage


TOTAL_ROWS = (
    TotalRow("items", lambda t: t.items),
    TotalRow("failed runs", lambda t: t.errors),
    TotalRow("triage agreement", lambda t: t.triage_agreement, share=True),
    TotalRow("action kinds agreement", lambda t: t.action_kind_agreement, share=True),
    TotalRow("recipient agreement", lambda t: t.recipient_agreement, share=True),
    TotalRow("draft similarity (difflib ratio)", lambda t: t.draft_similarity),
    TotalRow(
        "rejected drafts drafted again",
        lambda t: f"{t.rejected_still_drafted}/{t.rejected}" if t.rejected else None,
    ),
    TotalRow("model requests per item", lambda t: t.per_item(t.requests)),
    TotalRow("input tokens per item", lambda t: t.per_item(t.input_tokens)),
    TotalRow("output tokens per item", lambda t: t.per_item(t.output_tokens)),
    TotalRow("seconds per item", lambda t: t.per_item(t.seconds)),
)


def cell(value: float | int | str | None, *, share: bool = False) -> str:
    """A measure as a table shows it: shares as percentages, missing ones as a dash."""
    if value is None:
        return "–"
    if share and isinstance(value, float):
        return f"{value:.1%}".replace(".0%", "%")
    return str(value)


def total_cells(row: TotalRow, totals: Sequence[ModelTotals]) -> list[str]:
    return [cell(row.value(t), share=row.share) for t in totals]


def draft_diff(pair: DraftPair) -> str:
    """A unified diff from the replay's draft to the approved text."""
    drafted = (pair.drafted_text or "").splitlines()
    approved = (pair.approved_text or "").splitlines()
    lines = difflib.unified_diff(drafted, approved, "replay draft", "approved", lineterm="")
    return "\n".join(lines) or "(the same text)"


def _verdict(result: ItemResult) -> str:
    if result.error:
        return f"failed: {result.error}"
    wrong = result.agreement.disagreements
    return "agrees" if not wrong else "disagrees on " + ", ".join(wrong)


def _pairs(result: ItemResult) -> list[tuple[str, str]]:
    """(title, body) for each approved action with a text: the diff, or why there is none."""
    shown = []
    for pair in result.agreement.pairs:
        if pair.approved_text is None:
            continue
        if pair.drafted_text is None:
            shown.append((f"{pair.kind}: not drafted; approved text", pair.approved_text))
        else:
            title = f"{pair.kind}: similarity {cell(pair.similarity)}"
            shown.append((title, draft_diff(pair)))
    return shown


def _summary(result: ItemResult) -> str:
    replayed = ", ".join(d.kind for d in result.drafts) or "nothing"
    return (
        f"triage {result.decision or '–'} (human: {result.expected.triage.decision or '–'}); "
        f"drafted {replayed}; {_verdict(result)}"
    )


def _intro(run: EvalRun) -> list[str]:
    return [
        f"source: {run.source}; {len(run.rows)} item(s); memory: {run.memory.label}; "
        f"examples: {run.examples}; started {run.started_at:%Y-%m-%d %H:%M UTC}",
        "draft similarity: difflib.SequenceMatcher ratio of the replay's body to the approved "
        "body (after edits); 1.0 is the same text.",
    ]


def markdown(run: EvalRun) -> str:
    lines = ["# ambient eval run", "", *_intro(run), ""]
    lines.append("| | " + " | ".join(t.model for t in run.totals) + " |")
    lines.append("|---|" + "---|" * len(run.totals))
    for row in TOTAL_ROWS:
        lines.append(f"| {row.heading} | " + " | ".join(total_cells(row, run.totals)) + " |")
    for model, results in run.results.items():
        lines += ["", f"## {model}"]
        for result in results:
            lines += ["", f"### item {result.item_id}: {result.subject}", "", _summary(result)]
            for title, body in _pairs(result):
                fence = "````" if "```" in body else "```"
                lines += ["", f"{title}:", "", fence + "diff", body, fence]
    return "\n".join(lines) + "\n"


def _html_table(run: EvalRun) -> str:
    head = "".join(f"<th>{html.escape(t.model)}</th>" for t in run.totals)
    rows = [f"<tr><th></th>{head}</tr>"]
    for row in TOTAL_ROWS:
        cells = "".join(f"<td>{html.escape(text)}</td>" for text in total_cells(row, run.totals))
        rows.append(f"<tr><th>{html.escape(row.heading)}</th>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def page(run: EvalRun) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>ambient eval run</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}td,th{padding:0 1em;"
        "text-align:left}pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap}</style>",
        "</head><body><h1>ambient eval run</h1>",
        *(f"<p>{html.escape(line)}</p>" for line in _intro(run)),
        _html_table(run),
    ]
    for model, results in run.results.items():
        parts.append(f"<h2>{html.escape(model)}</h2>")
        for result in results:
            title = f"item {result.item_id}: {result.subject}"
            parts.append(f"<h3>{html.escape(title)}</h3><p>{html.escape(_summary(result))}</p>")
            for heading, body in _pairs(result):
                parts.append(f"<p>{html.escape(heading)}:</p><pre>{html.escape(body)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def check_report_path(path: Path) -> None:
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise InputError(f"--report {path}: expected a .md or .html file")


def write_report(run: EvalRun, path: Path) -> Path:
    """The report as Markdown or HTML, by the file's suffix."""
    check_report_path(path)
    text = markdown(run) if path.suffix.lower() == ".md" else page(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
