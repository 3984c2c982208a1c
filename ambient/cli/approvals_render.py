"""How approvals and the audit log look on a terminal (Rich) and in --json (stable keys).

Everything an email put into a draft is untrusted: it is printed as plain text, never as
Rich markup.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ambient.approvals.audit import ChainReport
from ambient.approvals.kinds import KINDS
from ambient.approvals.shown import compute_shown_hash
from ambient.approvals.tables import Approval, AuditEntry
from ambient.cli.output import print_event
from ambient.core.lineage import describe_stored_lines, stored_dict
from ambient.core.message import ParsedMessage


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def approval_json(approval: Approval) -> dict[str, Any]:
    return {
        "id": approval.id,
        "item_id": approval.item_id,
        "parent_id": approval.parent_id,
        "kind": approval.kind,
        "status": approval.status.value,
        "args": approval.args,
        "edited_args": approval.edited_args,
        "effective_args": approval.effective_args,
        "rationale": approval.rationale,
        "warnings": approval.warnings,
        "block_reason": approval.block_reason,
        "stale_reason": approval.stale_reason,
        "shown_hash": compute_shown_hash(approval),
        "review_round": approval.review_round,
        "trace_id": approval.trace_id,
        "created_at": approval.created_at,
        "queued_at": approval.queued_at,
        "decision": approval.decision.value if approval.decision else None,
        "decided_at": approval.decided_at,
        "decided_by": approval.decided_by,
        "decision_message": approval.decision_message,
        "reflection_status": approval.reflection_status.value,
        "idempotency_key": approval.idempotency_key,
        "attempts": approval.attempts,
        "last_error": approval.last_error,
        "next_attempt_at": approval.next_attempt_at,
        "executed_at": approval.executed_at,
        "result": approval.result,
        "lineage": stored_dict(approval.lineage_json),  # null: from before lineage was kept
    }


def _summary(approval: Approval) -> str:
    return KINDS.of(approval.kind).headline(approval.effective_args)


def render_table(console: Console, approvals: list[Approval]) -> None:
    table = Table("id", "item", "status", "kind", "what", "note")
    for row in approvals:
        note = row.block_reason or row.stale_reason or row.last_error or "; ".join(row.warnings)
        table.add_row(
            str(row.id),
            str(row.item_id),
            row.status.value,
            row.kind,
            Text(_summary(row)[:70]),
            Text((note or "")[:50]),
        )
    console.print(table)


def _question(console: Console, approval: Approval) -> None:
    """The agent's question as the agent's words, and its choices by the numbers --choice takes
    (nothing for a row that is no question)."""
    kind = KINDS.of(approval.kind)
    if kind.asks:
        for name, value in kind.shown_headers(approval.effective_args):
            console.print(Text.assemble((f"{name}: ", "bold"), value))
        body = kind.shown_body(approval.effective_args)
        if body:
            console.print(Text(body.rstrip("\n")))


def render_approval(
    console: Console, approval: Approval, message: ParsedMessage | None = None
) -> None:
    """Exactly what a decision is bound to, and the hash of it; `message`: its item's email,
    whose calendar invite (if it has one) is shown before the arguments."""
    header = (
        f"approval {approval.id} · {approval.kind} · {approval.status.value} "
        f"· item {approval.item_id}"
    )
    console.print(Text(header, style="bold"))
    lines = [
        ("rationale", approval.rationale),
        ("queued", _when(approval.queued_at)),
        ("trace", approval.trace_id),
    ]
    if approval.parent_id:
        lines.append(("revises", f"approval {approval.parent_id}"))
    if approval.decision:
        lines.append(
            (
                "decision",
                f"{approval.decision.value} by {approval.decided_by} at "
                f"{_when(approval.decided_at)}",
            )
        )
    if approval.decision_message:
        lines.append(("message", approval.decision_message))
    for label, value in lines:
        console.print(Text.assemble((f"{label}: ", "bold"), value or ""))
    for number, line in enumerate(describe_stored_lines(approval.lineage_json)):
        console.print(Text.assemble(("lineage: " if number == 0 else " " * 9, "bold"), line))
    for warning in approval.warnings:
        console.print(Text.assemble(("warning: ", "bold yellow"), warning))
    if approval.block_reason:
        console.print(Text.assemble(("blocked: ", "bold red"), approval.block_reason))
    if approval.stale_reason:
        console.print(Text.assemble(("re-queued: ", "bold yellow"), approval.stale_reason))
    if approval.last_error:
        console.print(Text.assemble(("last error: ", "bold red"), approval.last_error))
    _question(console, approval)
    print_event(console, message)
    console.print(Text("arguments:", style="bold"))
    for key, value in approval.effective_args.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if isinstance(value, str) and "\n" in value:
            console.print(Text(f"  {key}:"))
            console.print(Text("    " + value.replace("\n", "\n    ")))
        else:
            console.print(Text(f"  {key}: {shown}"))
    console.print(Text.assemble(("hash: ", "bold"), compute_shown_hash(approval)))


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "event": entry.event,
        "approval_id": entry.approval_id,
        "item_id": entry.item_id,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
        "entry_hash": entry.entry_hash,
    }


def _describe(entry: AuditEntry) -> str:
    details = entry.details
    for key in ("summary", "error", "message", "reason", "block_reason"):
        if details.get(key):
            return str(details[key])
    if details.get("changes"):
        return "changed: " + ", ".join(sorted(details["changes"]))
    if details.get("warnings"):
        return "acknowledged: " + "; ".join(details["warnings"])
    if "attempt" in details:
        return f"attempt {details['attempt']}"
    return str(details.get("kind", ""))


def render_log(console: Console, entries: list[AuditEntry], chain: ChainReport | None) -> None:
    table = Table("id", "at", "actor", "event", "approval", "item", "details")
    for entry in entries:
        table.add_row(
            str(entry.id),
            _when(entry.at),
            Text(entry.actor),
            entry.event,
            str(entry.approval_id or ""),
            str(entry.item_id or ""),
            Text(_describe(entry)[:80]),
        )
    console.print(table)
    if chain is not None:
        render_verdict(console, chain)


def render_verdict(console: Console, chain: ChainReport) -> None:
    """`ambient log --verify`: one line, whether the hash chain holds (and a second one
    counting the approvals it could not check)."""
    if chain.ok:
        console.print(f"[green]audit chain intact[/] ({chain.checked} entries)")
        if chain.unverifiable:
            approvals = (
                "1 approval" if chain.unverifiable == 1 else f"{chain.unverifiable} approvals"
            )
            console.print(
                f"[yellow]unverifiable:[/] {approvals} decided before decisions recorded their "
                "arguments' hash: not checked against the arguments approved"
            )
    elif chain.broken_at is None:
        console.print(Text.assemble(("audit chain broken: ", "red"), chain.problem or ""))
    else:
        console.print(
            Text.assemble(
                (f"audit chain broken at entry {chain.broken_at}: ", "red"), chain.problem or ""
            )
        )
