"""What `ambient approvals …` and `ambient log` do: the queue for scripts and SSH sessions.

A decision is bound to what the command showed: with ``--hash`` (from ``show``) the row must
still hash to it; without, the command prints the row and decides on the hash of exactly what
it printed. Either way the queue refuses when the row changed in between.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from ambient.approvals.audit import AuditLog
from ambient.approvals.decisions import DecisionOutcome
from ambient.approvals.editing import apply_sets, edit_in_editor, parse_args_json
from ambient.approvals.kinds import KINDS
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus, Decision
from ambient.cli.approvals_render import (
    approval_json,
    audit_json,
    render_approval,
    render_log,
    render_table,
    render_verdict,
)
from ambient.cli.core import stored_message
from ambient.cli.output import message_json, print_json
from ambient.core.diffs import text_diff
from ambient.core.errors import DecisionError
from ambient.core.message import ParsedMessage

if TYPE_CHECKING:
    from ambient.runtime import Runtime

DEFAULT_LIST = (ApprovalStatus.PENDING, ApprovalStatus.BLOCKED)
AFTERWARDS = {
    ApprovalStatus.APPROVED: "the daemon's outbox runs it",
    ApprovalStatus.FEEDBACK: "the agent drafts it again",
    ApprovalStatus.PENDING: "waiting for review again",
    ApprovalStatus.BLOCKED: "waiting for review again (blocked)",
    ApprovalStatus.EXECUTED: "closed as delivered; it will not be sent again",
}
ANSWERED = "the agent goes on with your answer"


class ApprovalCommands:
    can_send_email = True  # set from Settings by open_commands

    def __init__(
        self,
        queue: ApprovalQueue,
        audit: AuditLog,
        console: Console,
        actor: str,
        *,
        message_of: Callable[[int], ParsedMessage | None] = lambda item_id: None,
    ):
        self.queue = queue
        self.audit = audit
        self.console = console
        self.actor = actor
        self.message_of = message_of  # an item's stored email, parsed (None: not an email)

    # ---- reading -----------------------------------------------------------------------
    def list_approvals(self, statuses: Sequence[str] | None, limit: int, *, as_json: bool) -> int:
        wanted = [ApprovalStatus(s) for s in statuses] if statuses else list(DEFAULT_LIST)
        rows = self.queue.list(wanted, limit=limit)
        if as_json:
            print_json([approval_json(row) for row in rows])
        elif rows:
            render_table(self.console, rows)
        else:
            self.console.print(f"no approvals {'/'.join(s.value for s in wanted)}")
        return 0

    def show(self, approval_id: int, *, as_json: bool) -> int:
        row = self.queue.get(approval_id)
        message = self.message_of(row.item_id)  # its item's email: a calendar invite, say
        if as_json:
            print_json({**approval_json(row), **message_json(message)})
        else:
            render_approval(self.console, row, message)
        return 0

    def log(
        self,
        approval_id: int | None,
        item_id: int | None,
        limit: int,
        *,
        verify: bool,
        as_json: bool,
        verbose: bool = False,
    ) -> int:
        """The audit log as a table; with ``verify`` only the chain's verdict (and the table
        with ``verbose``). Exit code 1 when the chain is broken."""
        entries = self.audit.entries(approval_id=approval_id, item_id=item_id, limit=limit)
        chain = self.audit.verify_chain() if verify else None
        if chain is not None and not verbose and not as_json:
            render_verdict(self.console, chain)
        elif as_json:
            report = (
                None
                if chain is None
                else {
                    "ok": chain.ok,
                    "checked": chain.checked,
                    "broken_at": chain.broken_at,
                    "problem": chain.problem,
                    "approval_id": chain.approval_id,
                    "unverifiable": chain.unverifiable,
                }
            )
            print_json({"entries": [audit_json(entry) for entry in entries], "chain": report})
        else:
            render_log(self.console, entries, chain)
        return 0 if chain is None or chain.ok else 1

    # ---- deciding ----------------------------------------------------------------------
    def _shown(
        self, ids: Sequence[int], shown_hash: str | None, as_json: bool
    ) -> list[tuple[int, str]]:
        """(id, hash) for each row: the given hash, or the hash of the row printed now."""
        if shown_hash is not None and len(ids) != 1:
            raise DecisionError("--hash goes with exactly one approval ID")
        pairs = []
        for approval_id in ids:
            row = self.queue.get(approval_id)
            if shown_hash is None and not as_json:
                render_approval(self.console, row)
                self.console.print()
            pairs.append((approval_id, shown_hash or self.queue.shown_hash(row)))
        return pairs

    def _report(self, outcomes: list[DecisionOutcome], *, as_json: bool) -> int:
        if as_json:
            print_json(
                [
                    {
                        "id": outcome.approval_id,
                        "ok": outcome.ok,
                        "reason": outcome.reason,
                        "approval": approval_json(outcome.approval) if outcome.approval else None,
                    }
                    for outcome in outcomes
                ]
            )
        for outcome in outcomes:
            if as_json:
                continue
            if outcome.ok and outcome.approval is not None:
                status = outcome.approval.status
                word, after = status.value, AFTERWARDS.get(status, "")
                if outcome.approval.decision == Decision.ANSWERED:  # status: feedback
                    word, after = Decision.ANSWERED.value, ANSWERED
                self.console.print(
                    f"[green]{word}[/] approval {outcome.approval_id}"
                    + (f": {after}" if after else "")
                )
                if (
                    status == ApprovalStatus.APPROVED
                    and KINDS.of(outcome.approval.kind).sends_email
                    and not self.can_send_email
                ):
                    self.console.print(
                        "[yellow]warning:[/] no SMTP account is configured: add \\[smtp] to "
                        f"ambient.toml, then `ambient approvals retry {outcome.approval_id}`",
                        markup=True,
                        soft_wrap=True,
                    )
            else:
                self.console.print(Text.assemble(("refused: ", "bold red"), outcome.reason or ""))
        refused = any(not outcome.ok for outcome in outcomes)
        return DecisionError.exit_code if refused else 0

    def approve(
        self, ids: Sequence[int], shown_hash: str | None, *, ack: bool, as_json: bool
    ) -> int:
        pairs = self._shown(ids, shown_hash, as_json)
        outcomes = self.queue.approve_many(pairs, acknowledge_warnings=ack, actor=self.actor)
        return self._report(outcomes, as_json=as_json)

    def reject(
        self, ids: Sequence[int], shown_hash: str | None, reason: str, *, as_json: bool
    ) -> int:
        pairs = self._shown(ids, shown_hash, as_json)
        outcomes = self.queue.reject_many(pairs, reason=reason, actor=self.actor)
        return self._report(outcomes, as_json=as_json)

    def ignore(self, ids: Sequence[int], shown_hash: str | None, *, as_json: bool) -> int:
        pairs = self._shown(ids, shown_hash, as_json)
        return self._report(self.queue.ignore_many(pairs, actor=self.actor), as_json=as_json)

    def feedback(
        self, approval_id: int, shown_hash: str | None, message: str, *, as_json: bool
    ) -> int:
        ((_, shown),) = self._shown([approval_id], shown_hash, as_json)
        return self._single(
            approval_id,
            as_json,
            lambda: self.queue.feedback(
                approval_id, shown_hash=shown, message=message, actor=self.actor
            ),
        )

    def answer(
        self,
        approval_id: int,
        shown_hash: str | None,
        text: str | None,
        choice: int | None,
        *,
        as_json: bool,
    ) -> int:
        """Answer the agent's question in words, or with ``--choice N``."""
        if text is None and choice is None:
            raise DecisionError("give your answer as TEXT, or a choice as --choice N")
        ((_, shown),) = self._shown([approval_id], shown_hash, as_json)
        return self._single(
            approval_id,
            as_json,
            lambda: self.queue.answer(
                approval_id, shown_hash=shown, actor=self.actor, text=text, choice=choice
            ),
        )

    def edit(
        self,
        approval_id: int,
        shown_hash: str | None,
        *,
        assignments: Sequence[str],
        args_json: str | None,
        editor: str | None,
        ack: bool,
        as_json: bool,
    ) -> int:
        ((_, shown),) = self._shown([approval_id], shown_hash, as_json)
        row = self.queue.get(approval_id)
        if args_json is not None:
            args = parse_args_json(args_json)
        elif assignments:
            args = apply_sets(row.effective_args, list(assignments))
        else:
            if not editor:
                raise DecisionError("no editor: set $VISUAL or $EDITOR, or use --set / --args-json")
            edited = edit_in_editor(editor, row.kind, approval_id, row.effective_args)
            if edited is None:
                self.console.print("unchanged: nothing decided")
                return 1
            args = edited
        code = self._single(
            approval_id,
            as_json,
            lambda: self.queue.edit(
                approval_id, shown_hash=shown, args=args, actor=self.actor, acknowledge_warnings=ack
            ),
        )
        if code == 0 and not as_json:
            self.console.print(Text(changes_text(row.args, args)))
        return code

    def undo(self, approval_id: int, *, as_json: bool) -> int:
        return self._single(approval_id, as_json, lambda: self.queue.undo(approval_id, self.actor))

    def retry(self, approval_id: int, *, as_json: bool) -> int:
        return self._single(approval_id, as_json, lambda: self.queue.retry(approval_id, self.actor))

    def delivered(self, approval_id: int, *, as_json: bool) -> int:
        """Close an email whose delivery was uncertain as delivered (the human checked)."""
        return self._single(
            approval_id, as_json, lambda: self.queue.mark_delivered(approval_id, self.actor)
        )

    def _single(self, approval_id: int, as_json: bool, decide: Callable[[], Approval]) -> int:
        try:
            outcome = DecisionOutcome(approval_id, True, None, decide())
        except DecisionError as error:
            outcome = DecisionOutcome(approval_id, False, str(error), None)
        return self._report([outcome], as_json=as_json)


def changes_text(drafted: dict[str, Any], approved: dict[str, Any]) -> str:
    """What the human changed, as a unified diff of the arguments (draft -> approved)."""
    before, after = (
        json.dumps(args, indent=2, sort_keys=True, ensure_ascii=False)
        for args in (drafted, approved)
    )
    return text_diff(before, after, ("drafted", "approved")) or "(no changes)"


def open_commands(runtime: Runtime, console: Console) -> ApprovalCommands:
    """The commands over the runtime's queue and audit log, deciding as the runtime's actor
    (the runtime closes what deciding opened: tracing, for the scores of the decisions)."""
    commands = ApprovalCommands(
        runtime.queue,
        runtime.audit,
        console,
        runtime.actor,
        message_of=lambda item_id: stored_message(runtime, item_id),
    )
    commands.can_send_email = runtime.settings.can_send_email
    return commands
