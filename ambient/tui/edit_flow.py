"""Editing a draft: $EDITOR (or the in-app editor), validation, the diff, then the decision.

The text being edited lives in the EditStore from the first keystroke until the decision is
stored, so a refused decision, an invalid edit or Escape never loses it: `e` resumes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ambient.approvals.editing import draft_to_text, normalized_args, text_to_args
from ambient.core.diffs import text_diff
from ambient.core.errors import AmbientError, DecisionError
from ambient.tui.backend import Backend, DecisionReport
from ambient.tui.screens.diff import DiffReview
from ambient.tui.screens.edit import DraftEditor
from ambient.tui.views import ApprovalView

if TYPE_CHECKING:
    from ambient.tui.app import AmbientApp

Decide = Callable[[Callable[[Backend], DecisionReport], tuple[int, ...]], Any]

COMMENT = (
    "Edit, save, quit. These # lines are ignored.\n"
    "`Name: value` lines, a blank line, then the text; lists comma-separated.\n"
    "Nothing is sent until you approve the diff that follows."
)


class EditFlow:
    def __init__(self, app: AmbientApp, view: ApprovalView, decide: Decide) -> None:
        self.app = app
        self.view = view
        self.decide = decide

    def start(self) -> None:
        view = self.view
        saved = self.app.edits.load(view.id)
        if saved is not None:
            self.app.notify(f"Resuming unfinished edit of #{view.id}.")
            text = saved
        else:
            text = draft_to_text(view.kind, view.args, comment=COMMENT)
        if self.app.editor:
            path = self.app.edits.save(view.id, text)
            try:
                self.app.open_in_editor(path)
            except AmbientError as error:
                self.app.notify(str(error), severity="error")
                return
            self.review(path.read_text(encoding="utf-8"))
            return
        self.app.push_screen(
            DraftEditor(
                f"Edit #{view.id} ({view.kind})",
                text,
                validate=lambda edited: text_to_args(view.kind, edited),
                keep=self._keep,
            ),
            self._edited,
        )

    def _keep(self, text: str) -> None:
        self.app.edits.save(self.view.id, text)

    def _edited(self, text: str | None) -> None:
        if text is None:
            self.app.notify(f"Edit of #{self.view.id} kept: e resumes it.")
            return
        self.review(text)

    def review(self, text: str) -> None:
        view = self.view
        try:
            args = text_to_args(view.kind, text)
            original = normalized_args(view.kind, view.args)
        except DecisionError as error:
            self.app.notify(
                f"{error}\nYour edit is kept: press e to continue it.", severity="error", timeout=12
            )
            return
        if args == original:
            self.app.edits.discard(view.id)
            self.app.notify("No changes (a approves as drafted).")
            return
        self.app.run_worker(self._confirm(args, original), group="edit-review")

    async def _confirm(self, args: dict[str, Any], original: dict[str, Any]) -> None:
        view = self.view
        try:
            report = await asyncio.to_thread(self.app.backend.check_edit, view.id, args)
        except self.app.storage_errors as error:
            self.app.notify(f"database: {error}", severity="error")
            return
        if report.blocked:
            self.app.notify(
                f"The edited #{view.id} would be blocked: {report.block_reason}\n"
                "Your edit is kept: press e to change it.",
                severity="error",
                timeout=12,
            )
            return
        before, after = draft_to_text(view.kind, original), draft_to_text(view.kind, args)
        diff = text_diff(before, after, ("draft", "edited"))
        warnings = "".join(f"⚠ {warning}\n" for warning in report.warnings)
        title = f"Approve #{view.id} as edited?"
        if report.warnings:
            title += " (approving acknowledges the warnings)"

        def answered(yes: bool | None) -> None:
            if not yes:
                self.app.notify(f"Not approved; edit #{view.id} is kept.")
                return
            acknowledge = bool(report.warnings)

            def store(backend: Backend) -> DecisionReport:
                outcome = backend.edit(
                    view.id, view.shown_hash, args, acknowledge_warnings=acknowledge
                )
                self.app.edits.discard(view.id)
                return outcome

            self.decide(store, (view.id,))

        self.app.push_screen(DiffReview(title, warnings + diff), answered)
