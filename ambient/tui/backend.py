"""The TUI's stores behind one facade: reads shaped for the screens, decisions via the queue.

Every method here may block on the database or on git, so screens call them only from thread
workers. Decisions go through :class:`ambient.approvals.queue.ApprovalQueue`, the same API the
CLI uses, with the hash of what the human was shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from ambient.approvals.kinds import KINDS
from ambient.core.calendar_text import event_lines
from ambient.core.clock import Clock
from ambient.core.config import Secrets, Settings
from ambient.core.errors import DecisionError, NotFoundError
from ambient.core.ledger import Ledger
from ambient.core.lineage import describe_stored_lines
from ambient.core.message import UnparseableMessage, parse_message
from ambient.core.review import ItemReview, Overturn, ReviewEntry, ReviewOutcome
from ambient.daemon.health import read_health
from ambient.memory.history import MemoryCommit, MemoryHistory
from ambient.memory.store import MemoryFile, MemoryFileStatus, MemoryStore
from ambient.tui import queries
from ambient.tui.views import ApprovalView, ItemView, QueueEntry, QueueFilter
from ambient.tui.widgets.status_bar import SourceView, StatusSnapshot

if TYPE_CHECKING:
    # Built or imported on first use, after the first frame: the queue's first screen lists
    # rows through `queries` alone (the queue and autonomy modules cost ~0.1-0.2 s).
    from ambient.approvals.autonomy_status import Autonomy, AutonomyStatus, ClassEvidence
    from ambient.approvals.decisions import DecisionOutcome
    from ambient.approvals.policy import PolicyReport
    from ambient.approvals.queue import ApprovalQueue
    from ambient.approvals.tables import Approval

ITEM_TEXT_MAX_CHARS = 100_000
NO_SMTP = (
    "no SMTP account is configured: add [smtp] to ambient.toml, then retry it from history (h)"
)


def trace_base_url(settings: Settings, secrets: Secrets) -> str | None:
    """Where trace links point, or None when tracing to Langfuse is not configured."""
    from ambient.tracing.connection import resolve_connection

    connection = resolve_connection(secrets)
    if not connection.enabled:
        return None
    return (settings.tracing.public_url or connection.base_url).rstrip("/")


@dataclass(frozen=True)
class DecisionReport:
    """What a decision did: the rows it applied to, and the ones refused with a reason."""

    verb: str
    done: tuple[int, ...]
    refused: tuple[tuple[int, str], ...] = ()
    warning: str | None = None  # it was stored, but will not do what the human expects

    @classmethod
    def of(cls, verb: str, outcomes: Sequence[DecisionOutcome]) -> DecisionReport:
        return cls(
            verb,
            tuple(outcome.approval_id for outcome in outcomes if outcome.ok),
            tuple(
                (outcome.approval_id, outcome.reason or "refused")
                for outcome in outcomes
                if not outcome.ok
            ),
        )


class Backend:
    """`queue` and `autonomy` are built on first use (a callable such as the runtime's
    cached part), so the first frame waits for neither."""

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        settings: Settings,
        queue: Callable[[], ApprovalQueue],
        ledger: Ledger,
        memory: MemoryStore,
        memory_history: MemoryHistory,
        actor: str,
        trace_url_base: str | None = None,
        autonomy: Callable[[], Autonomy] | None = None,
        reviews: ItemReview | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self._build_queue = queue
        self.ledger = ledger
        self.memory = memory
        self.memory_history = memory_history
        self.actor = actor
        self.trace_url_base = trace_url_base
        self._build_autonomy = autonomy
        self.reviews = reviews or ItemReview(engine, clock)

    @cached_property
    def queue(self) -> ApprovalQueue:
        return self._build_queue()

    @cached_property
    def autonomy(self) -> Autonomy:
        if self._build_autonomy is not None:
            return self._build_autonomy()
        from ambient.approvals.autonomy_status import Autonomy

        return Autonomy(self.engine, self.clock, self.settings)

    # ---- reads ---------------------------------------------------------------------------
    def queue_token(self, queue_filter: QueueFilter) -> tuple[Any, ...]:
        return queries.queue_token(self.engine, queue_filter)

    def queue_entries(self, queue_filter: QueueFilter) -> list[QueueEntry]:
        return queries.queue_entries(self.engine, queue_filter)

    def rows_token(self, ids: Sequence[int]) -> tuple[Any, ...]:
        return queries.rows_token(self.engine, ids)

    def queue_index(self, queue_filter: QueueFilter) -> list[tuple[int, str]]:
        return queries.queue_index(self.engine, queue_filter)

    def entries_by_id(self, ids: Sequence[int]) -> dict[int, QueueEntry]:
        return queries.entries_by_id(self.engine, ids)

    def history_entries(self, queue_filter: QueueFilter) -> list[QueueEntry]:
        return queries.history_entries(self.engine, queue_filter)

    def status(self) -> StatusSnapshot:
        counts = self.ledger.counts()
        health = read_health(self.engine, self.clock)
        sources = tuple(
            SourceView(state.name, state.last_poll_at, state.last_error)
            for state in self.ledger.source_states()
        )
        pending = queries.queue_token(self.engine, QueueFilter())[0]
        review = self.reviews.counts()
        return StatusSnapshot(
            health=health,
            sources=sources,
            item_counts=counts.by_state,
            pending=int(pending or 0),
            model=health.model or self.settings.model_name,
            now=self.clock.now(),
            decided_by_rules=sum(self.ledger.pre_rule_counts().values()),
            to_read=review.unread,
            to_review=review.unreviewed,
        )

    def approval_view(self, approval_id: int) -> ApprovalView:
        approval = self.queue.get(approval_id)
        return self._view(approval)

    def _view(self, approval: Approval) -> ApprovalView:
        assert approval.id is not None
        item = self._item_view(approval.item_id)
        trace_url = None
        if self.trace_url_base and approval.trace_id:
            trace_url = f"{self.trace_url_base}/trace/{approval.trace_id}"
        result = approval.result
        return ApprovalView(
            id=approval.id,
            kind=approval.kind,
            status=approval.status.value,
            args=approval.effective_args,
            rationale=approval.rationale,
            warnings=tuple(approval.warnings),
            shown_hash=self.queue.shown_hash(approval),
            created_at=approval.created_at,
            item=item,
            trace_url=trace_url,
            blocked_reason=approval.block_reason,
            decision=approval.decision.value if approval.decision else "",
            decided_at=approval.decided_at,
            decided_by=approval.decided_by or "",
            decision_note=approval.decision_message or "",
            executed_at=approval.executed_at,
            result=json.dumps(result, ensure_ascii=False) if result else "",
            error=approval.last_error or "",
            attempts=approval.attempts,
            parent_id=approval.parent_id,
            extra={"stale": approval.stale_reason} if approval.stale_reason else {},
            lineage=describe_stored_lines(approval.lineage_json),
        )

    def _item_view(self, item_id: int) -> ItemView | None:
        try:
            item = self.ledger.get(item_id)
        except NotFoundError:
            return None
        triage = json.loads(item.triage_json) if item.triage_json else None
        try:
            raw = self.ledger.content(item_id)
        except NotFoundError:
            raw = b""
        headers: tuple[tuple[str, str], ...] = (("From", item.sender), ("Subject", item.subject))
        text = ""
        attachments: tuple[str, ...] = ()
        problem = None
        event: tuple[tuple[str, str], ...] = ()
        part_problems: tuple[str, ...] = ()
        if item.kind == "email" and raw:
            try:
                parsed = parse_message(raw)
            except UnparseableMessage as error:
                problem = str(error)
            else:
                headers = (
                    ("From", parsed.sender),
                    ("To", ", ".join(parsed.to)),
                    ("Cc", ", ".join(parsed.cc)),
                    ("Date", parsed.date.strftime("%Y-%m-%d %H:%M UTC") if parsed.date else ""),
                    ("Subject", parsed.subject),
                )
                text = parsed.text[:ITEM_TEXT_MAX_CHARS]
                attachments = tuple(
                    f"{a.filename} ({a.content_type}, {a.size} bytes)" for a in parsed.attachments
                )
                event = tuple(event_lines(parsed.calendar)) if parsed.calendar else ()
                part_problems = tuple(parsed.part_problems)
        elif raw:
            text = raw[:ITEM_TEXT_MAX_CHARS].decode("utf-8", errors="replace")
        return ItemView(
            id=item_id,
            source=item.source,
            state=item.state.value,
            headers=headers,
            text=text,
            attachments=attachments,
            triage=triage if isinstance(triage, dict) else None,
            problem=problem,
            event=event,
            part_problems=part_problems,
        )

    # ---- decisions ----------------------------------------------------------------------
    def approve(
        self, targets: Sequence[tuple[int, str]], *, acknowledge_warnings: bool
    ) -> DecisionReport:
        outcomes = self.queue.approve_many(
            targets, acknowledge_warnings=acknowledge_warnings, actor=self.actor
        )
        report = DecisionReport.of("approved", outcomes)
        return replace(report, warning=self.sending_warning(report.done))

    @property
    def smtp_configured(self) -> bool:
        """Whether an approved email can be sent: a global [smtp] or one on a source."""
        return self.settings.can_send_email

    def sending_warning(self, approved: Sequence[int]) -> str | None:
        """Why an approved email will not go out (no SMTP account), else None."""
        if not approved or self.smtp_configured:
            return None
        kinds = [KINDS.of(self.queue.get(approval_id).kind) for approval_id in approved]
        if any(kind.sends_email for kind in kinds):
            return NO_SMTP
        return None

    def reject(self, targets: Sequence[tuple[int, str]], reason: str) -> DecisionReport:
        outcomes = self.queue.reject_many(targets, reason=reason, actor=self.actor)
        return DecisionReport.of("rejected", outcomes)

    def ignore(self, targets: Sequence[tuple[int, str]]) -> DecisionReport:
        return DecisionReport.of("ignored", self.queue.ignore_many(targets, actor=self.actor))

    def feedback(self, approval_id: int, shown_hash: str, message: str) -> DecisionReport:
        self.queue.feedback(approval_id, shown_hash=shown_hash, message=message, actor=self.actor)
        return DecisionReport("sent back to redraft", (approval_id,))

    def answer(
        self, approval_id: int, shown_hash: str, text: str | None, choice: int | None
    ) -> DecisionReport:
        self.queue.answer(
            approval_id, shown_hash=shown_hash, actor=self.actor, text=text, choice=choice
        )
        return DecisionReport("answered", (approval_id,))

    def check_edit(self, approval_id: int, args: dict[str, Any]) -> PolicyReport:
        """What the policy gate will say about the edited arguments (before deciding)."""
        from ambient.approvals.decisions import recipients

        row = self.queue.get(approval_id)
        typed = frozenset(recipients(row.kind, args) - recipients(row.kind, row.args))
        return self.queue.policy.check(
            row.kind,
            args,
            thread_addresses=row.thread_addresses,
            human_recipients=typed,
            provenance=row.provenance,
        )

    def edit(
        self,
        approval_id: int,
        shown_hash: str,
        args: dict[str, Any],
        *,
        acknowledge_warnings: bool,
    ) -> DecisionReport:
        self.queue.edit(
            approval_id,
            shown_hash=shown_hash,
            args=args,
            actor=self.actor,
            acknowledge_warnings=acknowledge_warnings,
        )
        return DecisionReport(
            "approved as edited", (approval_id,), warning=self.sending_warning((approval_id,))
        )

    def undo(self, approval_ids: Sequence[int]) -> DecisionReport:
        done: list[int] = []
        refused: list[tuple[int, str]] = []
        for approval_id in approval_ids:
            try:
                self.queue.undo(approval_id, self.actor)
            except DecisionError as error:
                refused.append((approval_id, str(error)))
            else:
                done.append(approval_id)
        return DecisionReport("undone", tuple(done), tuple(refused))

    def retry(self, approval_id: int) -> DecisionReport:
        self.queue.retry(approval_id, self.actor)
        return DecisionReport("queued to run again", (approval_id,))

    def mark_delivered(self, approval_id: int) -> DecisionReport:
        self.queue.mark_delivered(approval_id, self.actor)
        return DecisionReport("closed as delivered", (approval_id,))

    # ---- review of notify items and ignore decisions (core.review) --------------------------
    def review_entries(self, ignored: bool) -> list[ReviewEntry]:
        """The notify items (the inbox), or the ignore decisions."""
        return self.reviews.ignored() if ignored else self.reviews.inbox()

    def item_view(self, item_id: int) -> ItemView | None:
        return self._item_view(item_id)

    def read_items(self, item_ids: Sequence[int]) -> list[ReviewOutcome]:
        return self.reviews.read(item_ids)

    def confirm_items(self, item_ids: Sequence[int]) -> list[ReviewOutcome]:
        return self.reviews.confirm(item_ids)

    def overturn(self, item_id: int, note: str) -> Overturn:
        return self.reviews.overturn(item_id, note)

    # ---- earned autonomy ------------------------------------------------------------------
    def autonomy_status(self) -> AutonomyStatus:
        return self.autonomy.status()

    def autonomy_reset(self, name: str) -> ClassEvidence:
        return self.autonomy.reset(name, self.actor)

    def autonomy_switch(self, switched_on: bool) -> bool:
        return self.autonomy.switch(switched_on, self.actor)

    # ---- memory ---------------------------------------------------------------------------
    def memory_files(self) -> list[MemoryFileStatus]:
        return self.memory.status()

    def memory_file(self, name: str) -> MemoryFile:
        return self.memory.load(name)

    def memory_log(self, limit: int = 100) -> list[MemoryCommit]:
        return self.memory_history.log(limit=limit)

    def memory_show(self, revision: str) -> str:
        return self.memory_history.show(revision)

    def memory_undo(self, revision: str) -> MemoryCommit:
        return self.memory_history.undo(revision)

    def memory_user_edit(self) -> str | None:
        """Commit what the user just changed in their editor (None if nothing changed)."""
        if not self.memory_history.is_repository:
            return None
        with self.memory_history.locked():
            return self.memory_history.commit_user_edits()
