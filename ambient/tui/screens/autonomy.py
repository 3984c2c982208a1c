"""Earned autonomy: each action class's level, streak and evidence; reset one (r) or turn the
kill switch (o). The same table as `ambient autonomy list`."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from ambient.approvals.autonomy_status import AutonomyStatus, ClassEvidence
from ambient.tui.app import AmbientScreen
from ambient.tui.backend import Backend
from ambient.tui.screens.prompt import Confirm
from ambient.tui.timefmt import stamp
from ambient.tui.widgets.row_list import Column, Row, RowList

AUTONOMY_COLUMNS = (
    Column("class", 0),
    Column("level", 10),
    Column("streak", 7, align_right=True),
    Column("eval", 5, align_right=True),
    Column("when", 4, align_right=True, age=True),
)


def class_row(evidence: ClassEvidence) -> Row:
    agreement = evidence.eval_agreement
    return Row(
        key=evidence.id,
        cells=(
            evidence.name,
            evidence.level,
            f"{evidence.streak}/{evidence.needed}",
            "-" if agreement is None else f"{agreement:.0%}",
            "",
        ),
        warning=evidence.level == "demoted",
        when=evidence.changed_at,
    )


def evidence_text(evidence: ClassEvidence) -> Text:
    """What the pane below the list says of one class."""
    text = Text()
    text.append(evidence.name, style="bold")
    text.append(f" · {evidence.level}", style="green" if evidence.acting else "")
    text.append("\n")
    if evidence.note:
        text.append(f"{evidence.note}\n", style="yellow")
    text.append(
        f"streak {evidence.streak} of {evidence.needed} · approved as drafted "
        f"{evidence.approved} · approved by rule {evidence.auto_approved}\n"
    )
    if evidence.eval_agreement is not None:
        text.append(
            f"eval agreement {evidence.eval_agreement:.0%} over {evidence.eval_items} items "
            f"at {stamp(evidence.eval_at)}\n"
        )
    text.append(f"last change {stamp(evidence.changed_at)}: ", style="dim")
    text.append(evidence.reason or "new", style="italic")
    return text


class AutonomyScreen(AmbientScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reset", "Reset class"),
        Binding("o", "switch", "On/off"),
        Binding("escape,q,A", "app.pop_screen", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.autonomy_status: AutonomyStatus | None = None
        self.by_id: dict[int, ClassEvidence] = {}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("Autonomy: what earned approval by rule", classes="screen-title")
        yield Static("", id="autonomy-summary", markup=False)
        yield Static("", id="autonomy-header", classes="list-header")
        yield RowList(
            AUTONOMY_COLUMNS,
            now=self.ambient.clock.now,
            empty_text="No action classes yet: each decision on one starts its evidence.",
            id="autonomy",
        )
        with VerticalScroll(classes="preview"):
            yield Static("", id="autonomy-detail", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show_rows()

    def reload(self) -> None:
        self.load_status()

    @work(exclusive=True, thread=True, group="autonomy")
    def load_status(self) -> None:
        try:
            status = self.ambient.backend.autonomy_status()
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.notify, f"database: {error}", severity="error")
            return
        self.app.call_from_thread(self._show, status)

    def _show(self, status: AutonomyStatus) -> None:
        self.autonomy_status = status
        self.by_id = {evidence.id: evidence for evidence in status.classes}
        summary = Text(status.summary(), style="green" if status.active else "yellow")
        self.query_one("#autonomy-summary", Static).update(summary)
        row_list = self.query_one(RowList)
        row_list.set_rows([class_row(evidence) for evidence in status.classes])
        width = max(self.size.width, 20)
        header = Text(row_list.header_text(width - 1), no_wrap=True, overflow="ellipsis")
        self.query_one("#autonomy-header", Static).update(header)
        self._show_detail(row_list.current_key)
        self.loaded = True

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        self._show_detail(event.key)

    def _show_detail(self, key: int | None) -> None:
        evidence = self.by_id.get(key) if key is not None else None
        detail = evidence_text(evidence) if evidence is not None else Text("")
        self.query_one("#autonomy-detail", Static).update(detail)

    def _current(self) -> ClassEvidence | None:
        key = self.query_one(RowList).current_key
        return self.by_id.get(key) if key is not None else None

    # ---- changes -------------------------------------------------------------------------
    def action_reset(self) -> None:
        evidence = self._current()
        if evidence is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.change(lambda backend: _reset(backend, evidence.name))

        self.app.push_screen(
            Confirm(f"Reset {evidence.name}?", "Back to learning, with a streak of 0."), answered
        )

    def action_switch(self) -> None:
        if self.autonomy_status is None:
            return
        switched_on = not self.autonomy_status.switched_on
        if switched_on:
            title, body = "Turn autonomy back on?", "Earned classes approve by rule again."
        else:
            title, body = "Turn autonomy off?", "Nothing is approved by rule until it is on."
        if switched_on and not self.autonomy_status.enabled:
            body += " (autonomy is off in ambient.toml: set [autonomy] enabled = true too)"

        def answered(yes: bool | None) -> None:
            if yes:
                self.change(lambda backend: _switch(backend, switched_on))

        self.app.push_screen(Confirm(title, body), answered)

    @work(thread=True, group="autonomy-change")
    def change(self, run: Callable[[Backend], str]) -> None:
        """Store a change in a worker, then say what happened and reload."""
        self.store(run, self._changed)

    def _changed(self, message: str) -> None:
        self.notify(message)
        self.reload()


def _reset(backend: Backend, name: str) -> str:
    backend.autonomy_reset(name)
    return f"{name}: back to learning"


def _switch(backend: Backend, switched_on: bool) -> str:
    word = "on" if switched_on else "off"
    changed = backend.autonomy_switch(switched_on)
    return f"autonomy switched {word}" if changed else f"autonomy was already {word}"
