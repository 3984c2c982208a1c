"""Memory: the files (open one in $EDITOR), the proposed changes as diffs, and the history.

Proposals are `memory_update` approvals: approve (a) or reject (r) them here as in the queue.
History is the memory folder's git log; undo (u) reverts one change with a new commit.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from ambient.approvals.kinds import ActionKind
from ambient.memory.history import MemoryCommit
from ambient.memory.store import MemoryFileStatus
from ambient.tui.app import AmbientScreen
from ambient.tui.screens.edit import DraftEditor
from ambient.tui.screens.prompt import Confirm, TextPrompt
from ambient.tui.timefmt import stamp
from ambient.tui.views import ApprovalView, QueueEntry, QueueFilter
from ambient.tui.widgets.detail import diff_text

PROPOSALS = QueueFilter(kind=ActionKind.MEMORY_UPDATE)


class MemoryScreen(AmbientScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "tab('files')", "Files"),
        Binding("2", "tab('proposals')", "Proposals"),
        Binding("3", "tab('log')", "History"),
        Binding("e", "edit_file", "Edit file"),
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("u", "undo", "Undo change"),
        Binding("escape,q,m", "app.pop_screen", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.files: list[MemoryFileStatus] = []
        self.proposals: list[QueueEntry] = []
        self.commits: list[MemoryCommit] = []
        self.proposal_view: ApprovalView | None = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("Memory — what the agent knows about you", classes="screen-title")
        with TabbedContent(initial="files"):
            with TabPane("1 Files", id="files"):
                yield OptionList(id="file-list")
                with VerticalScroll(classes="preview"):
                    yield Static("", id="file-preview", markup=False)
            with TabPane("2 Proposals", id="proposals"):
                yield OptionList(id="proposal-list")
                with VerticalScroll(classes="preview"):
                    yield Static("", id="proposal-preview", markup=False)
            with TabPane("3 History", id="log"):
                yield OptionList(id="commit-list")
                with VerticalScroll(classes="preview"):
                    yield Static("", id="commit-preview", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#file-list", OptionList).focus()  # arrow keys move in the files at once
        self.reload()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        list_id = {"files": "#file-list", "proposals": "#proposal-list", "log": "#commit-list"}
        self.query_one(list_id[tab], OptionList).focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show each tab's own keys in the footer."""
        active = self.query_one(TabbedContent).active if self.is_mounted else "files"
        wanted = {
            "edit_file": "files",
            "approve": "proposals",
            "reject": "proposals",
            "undo": "log",
        }
        if action in wanted:
            return active == wanted[action]
        return True

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()

    # ---- loading -------------------------------------------------------------------------
    def reload(self) -> None:
        self.load_all()

    @work(exclusive=True, thread=True, group="memory")
    def load_all(self) -> None:
        backend = self.ambient.backend
        try:
            files = backend.memory_files()
            proposals = backend.queue_entries(PROPOSALS)
            commits = backend.memory_log()
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.notify, f"memory: {error}", severity="error")
            return
        self.app.call_from_thread(self._show, files, proposals, commits)

    def _show(
        self,
        files: list[MemoryFileStatus],
        proposals: list[QueueEntry],
        commits: list[MemoryCommit],
    ) -> None:
        self.files, self.proposals, self.commits = files, proposals, commits
        self._fill("#file-list", [self._file_label(f) for f in files], "No memory files.")
        self._fill(
            "#proposal-list",
            [f"#{p.id} {p.concerns}: {p.summary}" for p in proposals],
            "No proposed changes.",
        )
        self._fill(
            "#commit-list",
            [f"{c.short} {c.committed_at:%Y-%m-%d %H:%M} {c.subject}" for c in commits],
            "No history yet.",
        )
        self.loaded = True
        for list_id in ("#file-list", "#proposal-list", "#commit-list"):
            self._preview(list_id)

    @staticmethod
    def _file_label(status: MemoryFileStatus) -> str:
        if status.status != "ok":
            return f"{status.name}  ({status.status})"
        return (
            f"{status.name}  {status.size} bytes, ~{status.tokens} tokens, {stamp(status.modified)}"
        )

    def _fill(self, list_id: str, labels: list[str], empty: str) -> None:
        option_list = self.query_one(list_id, OptionList)
        keep = option_list.highlighted
        option_list.clear_options()
        if labels:
            option_list.add_options([Option(Text(label, no_wrap=True)) for label in labels])
            option_list.highlighted = min(keep or 0, len(labels) - 1)
        else:
            option_list.add_option(Option(Text(empty, style="dim"), disabled=True))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id:
            self._preview(f"#{event.option_list.id}")

    def _selected(self, list_id: str, items: list[object]) -> int | None:
        index = self.query_one(list_id, OptionList).highlighted
        return index if index is not None and index < len(items) else None

    def _preview(self, list_id: str) -> None:
        if list_id == "#file-list":
            index = self._selected(list_id, list(self.files))
            if index is not None:
                self.load_file(self.files[index].name)
        elif list_id == "#proposal-list":
            index = self._selected(list_id, list(self.proposals))
            if index is not None:
                self.load_proposal(self.proposals[index].id)
            else:
                self.query_one("#proposal-preview", Static).update("")
        else:
            index = self._selected(list_id, list(self.commits))
            if index is not None:
                self.load_commit(self.commits[index].revision)

    @work(exclusive=True, thread=True, group="memory-file")
    def load_file(self, name: str) -> None:
        try:
            text = self.ambient.backend.memory_file(name).text
        except self.ambient.storage_errors as error:
            text = f"cannot read {name}: {error}"
        self.app.call_from_thread(self.query_one("#file-preview", Static).update, text)

    @work(exclusive=True, thread=True, group="memory-proposal")
    def load_proposal(self, approval_id: int) -> None:
        try:
            view = self.ambient.backend.approval_view(approval_id)
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.notify, f"database: {error}", severity="error")
            return
        self.app.call_from_thread(self._show_proposal, view)

    def _show_proposal(self, view: ApprovalView) -> None:
        self.proposal_view = view
        text = Text()
        text.append(f"#{view.id} {view.args.get('file', '')}\n", style="bold")
        text.append(str(view.args.get("reason", "")) + "\n\n", style="italic")
        for warning in view.warnings:
            text.append(f"⚠ {warning}\n", style="yellow")
        text.append_text(diff_text(str(view.args.get("diff", ""))))
        self.query_one("#proposal-preview", Static).update(text)

    @work(exclusive=True, thread=True, group="memory-commit")
    def load_commit(self, revision: str) -> None:
        try:
            shown = self.ambient.backend.memory_show(revision)
        except self.ambient.storage_errors as error:
            shown = f"cannot show {revision[:10]}: {error}"
        self.app.call_from_thread(
            self.query_one("#commit-preview", Static).update, diff_text(shown)
        )

    # ---- actions ---------------------------------------------------------------------------
    def action_edit_file(self) -> None:
        index = self._selected("#file-list", list(self.files))
        if index is None or self.files[index].status == "missing":
            self.notify("Choose an existing file first.", severity="warning")
            return
        name = self.files[index].name
        path = self.ambient.backend.memory.folder / name
        if self.ambient.editor:
            try:
                self.ambient.open_in_editor(path)
            except self.ambient.storage_errors as error:
                self.notify(str(error), severity="error")
                return
            self.commit_edit(name)
            return
        try:
            current = path.read_text(encoding="utf-8")
        except OSError as error:
            self.notify(f"cannot read {name}: {error.strerror}", severity="error")
            return

        def saved(text: str | None) -> None:
            if text is not None and text != current:
                self.write_file(name, text)

        self.app.push_screen(
            DraftEditor(
                f"Edit memory: {name}", current, validate=lambda _: None, keep=lambda _: None
            ),
            saved,
        )

    @work(thread=True, group="memory-write")
    def write_file(self, name: str, text: str) -> None:
        import os

        path = self.ambient.backend.memory.folder / name
        try:
            temporary = path.with_name(f".{path.name}.tui.tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
        except OSError as error:
            self.app.call_from_thread(
                self.notify, f"cannot write {name}: {error}", severity="error"
            )
            return
        self.commit_edit(name)

    @work(thread=True, group="memory-commit-edit")
    def commit_edit(self, name: str) -> None:
        try:
            revision = self.ambient.backend.memory_user_edit()
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.notify, f"memory history: {error}", severity="error")
            return
        message = f"{name} saved" + (f" (history {revision[:7]})" if revision else ", unchanged")
        self.app.call_from_thread(self.notify, message)
        self.app.call_from_thread(self.reload)

    def _proposal_target(self) -> list[tuple[int, str]]:
        view = self.proposal_view
        index = self._selected("#proposal-list", list(self.proposals))
        if view is None or index is None or self.proposals[index].id != view.id:
            self.notify("Choose a proposal first.", severity="warning")
            return []
        return [(view.id, view.shown_hash)]

    def action_approve(self) -> None:
        targets = self._proposal_target()
        if targets:
            self.act(lambda backend: backend.approve(targets, acknowledge_warnings=True))

    def action_reject(self) -> None:
        targets = self._proposal_target()
        if not targets:
            return

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.act(lambda backend: backend.reject(targets, reason))

        self.app.push_screen(
            TextPrompt("Reject this memory change: why?", required=False), answered
        )

    def action_undo(self) -> None:
        index = self._selected("#commit-list", list(self.commits))
        if index is None:
            return
        commit = self.commits[index]

        def answered(yes: bool | None) -> None:
            if yes:
                self.undo_commit(commit.revision)

        self.app.push_screen(Confirm(f"Undo {commit.short} “{commit.subject}”?"), answered)

    @work(thread=True, group="memory-undo")
    def undo_commit(self, revision: str) -> None:
        try:
            made = self.ambient.backend.memory_undo(revision)
        except self.ambient.storage_errors as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", timeout=10)
            return
        self.app.call_from_thread(self.notify, f"undone: {made.short} {made.subject}")
        self.app.call_from_thread(self.reload)
