"""`ambient tui`: the Textual app where the human reviews and decides.

The app takes its stores in its constructor; :func:`make_app` builds it on a runtime's parts
for the CLI and the tests alike (the tests' runtime has a frozen clock and their database).
"""

from __future__ import annotations

import getpass
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from textual import work
from textual.app import App, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from ambient.core.editing import EditorError, run_editor
from ambient.core.errors import AmbientError
from ambient.tui.backend import Backend, DecisionReport, trace_base_url
from ambient.tui.edit_store import EditStore
from ambient.tui.widgets.row_list import RowList

if TYPE_CHECKING:
    from ambient.runtime import Runtime

Stored = TypeVar("Stored")

# Once the first rows are shown, a thread waiting for the GIL gets it after 1 ms, not 5 ms:
# a decision's worker gives the GIL up around each of its ~15 statements and waited up to 5 ms
# for it back each time while the UI thread drew (bench/tui.py, 10,000 pending: keystroke ->
# stored p95 80-140 ms at 5 ms, 30-45 ms at 1 ms).
SWITCH_INTERVAL = 0.001


def default_actor() -> str:
    """Who decides, as the audit log records it: `tui:user@host`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    return f"tui:{user}@{socket.gethostname()}"


class AmbientApp(App[None]):
    TITLE = "ambient"
    CSS_PATH = "styles/app.tcss"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", show=False),
    ]

    # What a worker reports as a message instead of crashing the app.
    storage_errors: tuple[type[BaseException], ...] = (SQLAlchemyError, AmbientError, OSError)
    decision_errors: tuple[type[BaseException], ...] = (SQLAlchemyError, AmbientError, OSError)

    def __init__(
        self,
        backend: Backend,
        *,
        edits: EditStore,
        editor: str | None = None,
        poll_seconds: float = 1.0,
        warm_up: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.warm_up = warm_up
        self.clock = backend.clock
        self.edits = edits
        self.editor = editor or None
        self.poll_seconds = poll_seconds
        self.decisions_stored = 0  # counted as they are stored (the bench reads it)
        self._switch_interval = sys.getswitchinterval()  # the process's, back at unmount

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Toasts are plain text, always: they carry addresses, subjects, error messages and
        config names such as `[smtp]`, which Rich markup would eat or misread."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def on_mount(self) -> None:
        from ambient.tui.screens.queue import QueueScreen

        self.push_screen(QueueScreen())

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)

    def first_listing_shown(self) -> None:
        """The queue's first rows are on screen: what waited for that (opening tracing for
        decisions) starts a little later, off the event loop, while the human reads (before,
        its imports would compete with the first frame). From now on the workers' database
        calls get the GIL back sooner (see SWITCH_INTERVAL)."""
        sys.setswitchinterval(SWITCH_INTERVAL)
        if self.warm_up is not None:
            self.set_timer(0.5, self._start_warm_up)

    def _start_warm_up(self) -> None:
        warm_up, self.warm_up = self.warm_up, None  # once
        if warm_up is not None:
            self.run_worker(warm_up, thread=True, group="warm-up", exit_on_error=False)

    def open_in_editor(self, path: Path) -> None:
        """Run $EDITOR on the file in the foreground, the app suspended around it."""
        if not self.editor:
            raise EditorError("no editor: set $VISUAL or $EDITOR")
        try:
            with self.suspend():
                run_editor(self.editor, path)
        except SuspendNotSupported:  # headless (tests) or a web terminal: run it as it is
            run_editor(self.editor, path)

    def action_help(self) -> None:
        from ambient.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_history(self) -> None:
        from ambient.tui.screens.history import HistoryScreen

        self.push_screen(HistoryScreen())

    def action_memory(self) -> None:
        from ambient.tui.screens.memory import MemoryScreen

        self.push_screen(MemoryScreen())

    def action_autonomy(self) -> None:
        from ambient.tui.screens.autonomy import AutonomyScreen

        self.push_screen(AutonomyScreen())

    def action_review(self) -> None:
        from ambient.tui.screens.inbox import ReviewScreen

        self.push_screen(ReviewScreen())


class AmbientScreen(Screen[None]):
    """A full screen of this app; `ambient` is the app with its backend, clock and settings."""

    @property
    def ambient(self) -> AmbientApp:
        assert isinstance(self.app, AmbientApp)
        return self.app

    def reload(self) -> None:
        """Read this screen's rows again (after a decision made on it)."""

    def show_rows(self) -> None:
        """On mount of a screen of rows: focus its list, load it, and read it again every
        other poll, so changes made elsewhere (the daemon, another terminal) show up."""
        self.query_one(RowList).focus()
        self.reload()
        self.set_interval(max(self.ambient.poll_seconds * 2, 1.0), self.reload)

    @work(thread=True, group="screen-decision")
    def act(self, run: Callable[[Backend], DecisionReport]) -> None:
        """Store a decision in a worker, then say what happened and reload the screen."""
        self.store(run, self._acted)

    def store(self, run: Callable[[Backend], Stored], then: Callable[[Stored], None]) -> None:
        """In a worker: store a change through the backend, then hand its result to `then` on
        the UI thread; a refusal or a storage error is an error toast instead."""
        try:
            result = run(self.ambient.backend)
        except self.ambient.decision_errors as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", timeout=10)
            return
        self.app.call_from_thread(then, result)

    def _acted(self, report: DecisionReport) -> None:
        self.ambient.decisions_stored += len(report.done)
        for approval_id in report.done:
            self.notify(f"#{approval_id} {report.verb}")
        for approval_id, reason in report.refused:
            self.notify(f"#{approval_id}: {reason}", severity="error", timeout=10)
        self.reload()


def make_app(
    runtime: Runtime,
    *,
    editor: str | None = None,
    poll_seconds: float = 1.0,
    warm_up_tracing: bool = False,
) -> AmbientApp:
    """The app over the runtime's queue, ledger and memory, deciding as the runtime's actor.
    With `warm_up_tracing`, tracing for decisions opens after the first frame, while the human
    reads, instead of inside the first decision."""
    settings = runtime.settings
    backend = Backend(
        engine=runtime.engine,
        clock=runtime.clock,
        settings=settings,
        queue=lambda: runtime.queue,  # built on first use, after the first frame
        ledger=runtime.ledger,
        memory=runtime.memory,
        memory_history=runtime.memory_history,
        actor=runtime.actor,
        trace_url_base=trace_base_url(settings, runtime.secrets),
        autonomy=lambda: runtime.autonomy,
        reviews=runtime.reviews,
    )
    edits = EditStore(settings.data_dir / "tui" / "edits")
    warm_up = getattr(runtime.approval_events, "warm", None) if warm_up_tracing else None
    return AmbientApp(
        backend, edits=edits, editor=editor, poll_seconds=poll_seconds, warm_up=warm_up
    )


def run_tui(runtime: Runtime, *, editor: str | None) -> int:
    """Run the app until the human quits; decisions are recorded as `tui:user@host` (the
    caller closes the runtime)."""
    runtime.actor = default_actor()
    make_app(runtime, editor=editor, warm_up_tracing=True).run()
    return 0
