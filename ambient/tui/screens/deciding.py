"""The decision keys of the queue: on the marked rows or the highlighted one, each decision
stored in a worker; its rows leave the list at once and come back if it is refused; u undoes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import work

from ambient.approvals.kinds import KINDS
from ambient.tui.app import AmbientScreen
from ambient.tui.backend import Backend, DecisionReport
from ambient.tui.screens.answer import AnswerPrompt, question_text, read_answer
from ambient.tui.screens.prompt import Confirm, TextPrompt
from ambient.tui.views import ApprovalView, QueueEntry
from ambient.tui.widgets.detail import DetailPane
from ambient.tui.widgets.row_list import RowList


def asks(kind: str) -> bool:
    """Whether rows of this kind are the agent's questions (answered, never approved)."""
    return KINDS.of(kind).asks


def done_text(ids: tuple[int, ...]) -> str:
    """`#3`, `#3, #4`, or `5 actions` (a toast is some 35 cells wide)."""
    return ", ".join(f"#{i}" for i in ids) if len(ids) <= 2 else f"{len(ids)} actions"


class DecidingScreen(AmbientScreen):
    """A RowList of approvals with a DetailPane; the subclass lists them and keeps them fresh."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[int, QueueEntry] = {}
        self.undo_stack: list[tuple[int, ...]] = []
        self._deciding: set[int] = set()  # decisions on their way to the database

    if TYPE_CHECKING:  # the listing screen's own

        def refresh_all(self, force: bool = False) -> None: ...

        def _update_header(self) -> None: ...

    def shown_view(self) -> ApprovalView | None:
        """The highlighted approval as the human sees it now (None while it loads)."""
        row_list = self.query_one(RowList)
        view = self.query_one(DetailPane).view
        if row_list.current_key is None:
            self.notify("Nothing selected.", severity="warning")
            return None
        if view is None or view.id != row_list.current_key:
            self.notify("Still loading the detail; try again.", severity="warning")
            return None
        return view

    def is_question(self, approval_id: int, kind: str) -> bool:
        """True (and says which key answers it) when the row is the agent's question."""
        if asks(kind):
            self.notify(f"#{approval_id} is the agent's question: n answers it.", severity="error")
        return asks(kind)

    def targets(self) -> list[tuple[int, str]]:
        """Marked rows (each with the hash of its row as listed), else the highlighted one."""
        row_list = self.query_one(RowList)
        if row_list.marked:
            return [
                (key, self.entries[key].shown_hash)
                for key in sorted(row_list.marked)
                if key in self.entries and key not in self._deciding
            ]
        view = self.shown_view()
        return [(view.id, view.shown_hash)] if view and view.id not in self._deciding else []

    def action_approve(self) -> None:
        targets = self.targets()
        if not targets:
            return
        ids = tuple(approval_id for approval_id, _ in targets)
        entries = [self.entries[i] for i, _ in targets if i in self.entries]
        if any(self.is_question(entry.id, entry.kind) for entry in entries):
            return
        blocked = [entry.id for entry in entries if entry.status == "blocked"]
        if blocked:
            self.notify(
                f"#{blocked[0]} is blocked by policy: edit it (e) or reject it (r).",
                severity="error",
            )
            return
        warnings = [warning for entry in entries for warning in entry.warnings]
        if not warnings:
            self.decide(lambda b: b.approve(targets, acknowledge_warnings=False), ids)
            return
        body = "\n".join(f"⚠ {warning}" for warning in warnings)

        def answered(yes: bool | None) -> None:
            if yes:
                self.decide(lambda b: b.approve(targets, acknowledge_warnings=True), ids)

        self.app.push_screen(Confirm("The policy gate warns. Approve anyway?", body), answered)

    def action_reject(self) -> None:
        targets = self.targets()
        if not targets:
            return
        what = f"#{targets[0][0]}" if len(targets) == 1 else f"{len(targets)} actions"
        ids = tuple(approval_id for approval_id, _ in targets)

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.decide(lambda b: b.reject(targets, reason), ids)

        self.app.push_screen(
            TextPrompt(f"Reject {what}: why? (memory learns from it)", required=False), answered
        )

    def action_ignore(self) -> None:
        targets = self.targets()
        if targets:
            self.decide(lambda b: b.ignore(targets), tuple(i for i, _ in targets))

    def action_feedback(self) -> None:
        if self.query_one(RowList).marked:
            self.notify("Feedback is for one draft at a time (x clears marks).", severity="warning")
            return
        view = self.shown_view()
        if view is None or self.is_question(view.id, view.kind):
            return

        def answered(message: str | None) -> None:
            if message:
                self.decide(lambda b: b.feedback(view.id, view.shown_hash, message), (view.id,))

        self.app.push_screen(
            TextPrompt(f"Feedback on #{view.id}: what should the agent change?"), answered
        )

    def action_edit(self) -> None:
        if self.query_one(RowList).marked:
            self.notify("Edit one draft at a time (x clears the marks).", severity="warning")
            return
        view = self.shown_view()
        if view is not None and not self.is_question(view.id, view.kind):
            from ambient.tui.edit_flow import EditFlow  # its TextArea: after the first frame

            EditFlow(self.ambient, view, self.decide).start()

    def action_answer(self) -> None:
        """Answer the agent's question: in words, or a choice by its number."""
        if self.query_one(RowList).marked:
            self.notify("Answer one question at a time (x clears marks).", severity="warning")
            return
        view = self.shown_view()
        if view is None:
            return
        if not asks(view.kind):
            self.notify(f"#{view.id} is a draft, not a question.", severity="warning")
            return
        kind = KINDS.of(view.kind)
        choices = len(kind.choices(view.args))

        def answered(typed: str | None) -> None:
            if typed:
                text, choice = read_answer(typed, choices)
                self.decide(lambda b: b.answer(view.id, view.shown_hash, text, choice), (view.id,))

        prompt = AnswerPrompt(view.id, question_text(kind, view.args), choices)
        self.app.push_screen(prompt, answered)

    def action_undo(self) -> None:
        if not self.undo_stack:
            self.notify("Nothing to undo.", severity="warning")
            return
        ids = self.undo_stack.pop()
        self.decide(lambda b: b.undo(ids), ids, undoable=False)

    def action_clear_marks(self) -> None:
        self.query_one(RowList).clear_marks()

    def decide(
        self,
        decision: Callable[[Backend], DecisionReport],
        ids: tuple[int, ...],
        *,
        undoable: bool = True,
    ) -> None:
        """Store a decision in a worker; its rows leave the list at once (back if refused)."""
        if undoable:
            self._deciding.update(ids)
            self.entries = {k: v for k, v in self.entries.items() if k not in self._deciding}
            self.query_one(RowList).remove_keys(set(ids))
            self._update_header()
        self._store(decision, ids, undoable)

    @work(thread=True, group="decide")
    def _store(
        self, decision: Callable[[Backend], DecisionReport], ids: tuple[int, ...], undoable: bool
    ) -> None:
        try:
            report = decision(self.ambient.backend)
        except self.ambient.decision_errors as error:
            self.app.call_from_thread(self._decision_failed, error, ids)
            return
        self.app.call_from_thread(self._decided, report, ids, undoable)

    def _decision_failed(self, error: BaseException, ids: tuple[int, ...]) -> None:
        self._deciding.difference_update(ids)
        self.notify(str(error), severity="error", timeout=10)
        self.refresh_all(force=True)

    def _decided(self, report: DecisionReport, ids: tuple[int, ...], undoable: bool) -> None:
        self._deciding.difference_update(ids)
        self.ambient.decisions_stored += len(report.done)
        if report.done:
            if undoable:
                self.undo_stack.append(report.done)
            done = done_text(report.done)
            if report.warning:
                self.notify(f"{done} {report.verb} — but {report.warning}", severity="warning")
            else:
                hint = " · u: undo" if undoable else ""
                self.notify(f"{done} {report.verb}{hint}", timeout=4)
        for approval_id, reason in report.refused:
            self.notify(f"#{approval_id}: {reason}", severity="error", timeout=10)
        if undoable and report.done and not report.refused:
            self.rows_left(report.done)
        else:  # refused rows come back, undone ones return: read the listing again
            self.refresh_all(force=True)

    def rows_left(self, ids: tuple[int, ...]) -> None:
        """These rows were decided here and left the list: bring the listing up to date."""
        self.refresh_all(force=True)
