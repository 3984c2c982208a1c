"""The detail pane: warnings, the drafted action, the agent's reasons, the original item.

Email content is untrusted: it is appended as plain text, never parsed as markup.
"""

from __future__ import annotations

from datetime import datetime

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ambient.approvals.kinds import KINDS
from ambient.tui.timefmt import age, stamp
from ambient.tui.views import ApprovalView, ItemView
from ambient.tui.widgets.status_bar import STATE_LABELS

MAX_ITEM_CHARS = 20_000


SECTION_WIDTH = 60  # a heading and its rule, narrower than the pane at 80 columns


def _section(text: Text, title: str) -> None:
    heading = f"── {title} "
    text.append("\n" + heading, style="bold cyan")
    text.append("─" * max(SECTION_WIDTH - cell_len(heading), 3) + "\n", style="cyan dim")


def _args(text: Text, view: ApprovalView) -> None:
    """The action as its kind shows it: its headers (To, Cc, Subject, …), then its body."""
    kind = KINDS.of(view.kind)
    for name, value in kind.shown_headers(view.args):
        text.append(f"{name}: ", style="bold")
        text.append(value + "\n")
    body = kind.shown_body(view.args)
    if body is not None:
        text.append("\n")
        if kind.body_is_diff:
            text.append_text(diff_text(body, empty=""))
        else:
            text.append(body.rstrip("\n") + "\n")


def diff_text(diff: str, *, empty: str = "(no changes)") -> Text:
    """A unified diff coloured line by line (headers bold, + green, - red, @@ cyan)."""
    text = Text()
    for line in diff.splitlines() or ([empty] if empty else []):
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        else:
            style = ""
        text.append(line + "\n", style=style)
    return text


def _item(text: Text, item: ItemView) -> None:
    _section(
        text, f"original #{item.id} ({item.source}, {STATE_LABELS.get(item.state, item.state)})"
    )
    if item.problem:
        text.append(f"cannot read it: {item.problem}\n", style="red")
    for name, value in item.headers:
        if value:
            text.append(f"{name}: ", style="bold")
            text.append(value + "\n")
    if item.attachments:
        text.append("Attachments: ", style="bold")
        text.append(", ".join(item.attachments) + "\n")
    body = item.text
    if len(body) > MAX_ITEM_CHARS:
        body = body[:MAX_ITEM_CHARS] + f"\n[… {len(item.text) - MAX_ITEM_CHARS} more characters]"
    text.append("\n" + body + "\n")


def _event(text: Text, item: ItemView) -> None:
    """The item's calendar invite (what, when, where, who) right below the draft, so that an
    answer to it is read with the event; and the parts of the message that could not be read."""
    if not item.event and not item.part_problems:
        return
    _section(text, "calendar")
    for problem in item.part_problems:
        text.append(f"⚠ {problem}\n", style="yellow")
    for name, value in item.event:
        text.append(f"{name}: ", style="bold")
        text.append(value + "\n")


def _triage(text: Text, view: ApprovalView) -> None:
    triage = view.item.triage if view.item else None
    if not view.rationale and not triage:
        return
    _section(text, "why")
    if view.rationale:
        text.append(view.rationale.strip() + "\n")
    if triage:
        text.append("triage: ", style="bold")
        text.append(
            " · ".join(
                str(triage[key]) for key in ("decision", "priority", "summary") if triage.get(key)
            )
            + "\n"
        )
        if triage.get("reason"):
            text.append(str(triage["reason"]) + "\n", style="italic")


def _lineage(text: Text, view: ApprovalView) -> None:
    """What produced the draft, in a line or two that fit 80 columns."""
    label = "lineage: "
    for number, line in enumerate(view.lineage):
        text.append(label if number == 0 else " " * len(label), style="bold dim")
        text.append(line + "\n", style="dim")


def _outcome(text: Text, view: ApprovalView, now: datetime) -> None:
    if not (view.decision or view.executed_at or view.error or view.result):
        return
    _section(text, "outcome")
    if view.decision:
        who = f" by {view.decided_by}" if view.decided_by else ""
        text.append(f"{view.decision}{who} at {stamp(view.decided_at)}\n", style="bold")
    if view.decision_note:
        text.append(view.decision_note + "\n", style="italic")
    if view.executed_at:
        text.append(f"executed at {stamp(view.executed_at)}\n")
    if view.result:
        text.append(view.result + "\n", style="green")
    if view.error:
        attempts = f" after {view.attempts} attempts" if view.attempts else ""
        text.append(f"error{attempts}: {view.error}\n", style="red")


def detail_text(view: ApprovalView, now: datetime) -> Text:
    text = Text()
    text.append(f"#{view.id} {view.kind}", style="bold")
    drafted = age(view.created_at, now)
    text.append(f" · {view.status} · " + ("just now" if drafted == "now" else f"{drafted} ago"))
    if view.parent_id:
        text.append(f" · revises #{view.parent_id}", style="dim")
    text.append("\n")
    if view.blocked_reason:
        text.append(f"✖ blocked by policy: {view.blocked_reason}\n", style="bold red")
    for warning in view.warnings:
        text.append(f"⚠ {warning}\n", style="bold yellow")
    _outcome(text, view, now)  # a decided action: what became of it comes first
    asks = KINDS.of(view.kind).asks  # the agent's question: answered, not a draft
    _section(text, "question" if asks else ("draft" if not view.decision else "action"))
    _args(text, view)
    if view.item is not None:
        _event(text, view.item)
    _triage(text, view)
    _lineage(text, view)
    if view.item is not None:
        _item(text, view.item)
    for name, value in view.extra.items():
        text.append(f"{name}: ", style="bold")
        text.append(value + "\n")
    if view.trace_url:
        _section(text, "trace")
        text.append(view.trace_url + "\n", style=f"underline link {view.trace_url}")
    return text


class DetailPane(VerticalScroll, can_focus=True):
    """Scrollable detail of the highlighted approval."""

    DEFAULT_CSS = """
    DetailPane > Static { width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.view: ApprovalView | None = None
        self._body = Static("", markup=False)

    def compose(self) -> ComposeResult:
        yield self._body

    def show(self, view: ApprovalView | None, now: datetime, empty: str = "") -> None:
        changed = view is None or self.view is None or view.id != self.view.id
        self.view = view
        if view is None:
            self._body.update(Text(empty, style="dim"))
        else:
            self._body.update(detail_text(view, now))
        if changed:
            self.scroll_home(animate=False)
