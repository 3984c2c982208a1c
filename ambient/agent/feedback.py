"""The human's decisions on a paused run's drafts, as Pydantic AI deferred-tool results.

Feedback on a draft is ``ToolDenied(message)`` for that call (the model revises it), an approved
sibling of the same run is ``ToolApproved`` (tool bodies have no side effects, so nothing runs
twice; an edit is its ``override_args``), and any other sibling is denied as "decided
separately" so the model does not draft it again. A question the agent asked the user
(ask_user, deferred as a Pydantic AI question) gets the human's answer as the call's result,
in ``DeferredToolResults.calls``; one not answered says so, so the model does not ask it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic_ai import DeferredToolResults, ToolApproved, ToolDenied
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart

from ambient.agent.state import RunState
from ambient.approvals.kinds import KINDS
from ambient.approvals.tables import Approval, ApprovalStatus, Decision
from ambient.models.conversation import FEEDBACK_PREFIX

APPROVED_STATUSES = frozenset(
    {
        ApprovalStatus.APPROVED,
        ApprovalStatus.EXECUTING,
        ApprovalStatus.EXECUTED,
        ApprovalStatus.FAILED,
        ApprovalStatus.DEAD,
    }
)
DECIDED_SEPARATELY = (
    "decided separately: the user handles this draft on its own; do not draft it again"
)
UNANSWERED = "not answered: the user handles this question on its own; do not ask it again"


def feedback_denial(message: str | None) -> ToolDenied:
    return ToolDenied(
        f"{FEEDBACK_PREFIX}{(message or '').strip()}\n"
        "Revise the draft as the feedback says and call the tool again, or give your triage "
        "if nothing should be done."
    )


def revision_results(
    state: RunState, feedback: Sequence[Approval], siblings: Sequence[Approval]
) -> DeferredToolResults:
    """An answer for every deferred call of the paused run."""
    by_call = {row.tool_call_id: row for row in siblings}
    by_call.update({row.tool_call_id: row for row in feedback})
    wanted = {row.tool_call_id for row in feedback}
    approvals: dict[str, ToolApproved | ToolDenied] = {}
    for call_id in state.tool_call_ids:
        row = by_call.get(call_id)
        if row is not None and call_id in wanted:
            approvals[call_id] = feedback_denial(row.decision_message)
        elif row is not None and row.status in APPROVED_STATUSES:
            edited = row.edited_args
            override = (
                None if edited is None else KINDS.of(row.kind).call_args(edited, row.rationale)
            )
            approvals[call_id] = ToolApproved(override_args=override)
        else:
            approvals[call_id] = ToolDenied(DECIDED_SEPARATELY)
    answers: dict[str, Any] = {}  # a plain value is the call's return (Pydantic AI wraps it)
    for call_id in state.question_ids:
        row = by_call.get(call_id)
        if row is not None and row.decision == Decision.ANSWERED:
            answers[call_id] = KINDS.of(row.kind).answered(row.args, row.decision_message or "")
        else:
            answers[call_id] = UNANSWERED
    return state.requests.build_results(approvals=approvals, calls=answers)


def answered_with_feedback(messages: Sequence[ModelMessage]) -> list[str]:
    """The tools whose calls the user answered with feedback in the last request, if any."""
    if not messages or not isinstance(messages[-1], ModelRequest):
        return []
    return [
        part.tool_name
        for part in messages[-1].parts
        if isinstance(part, ToolReturnPart)
        and part.outcome == "denied"
        and str(part.content).startswith(FEEDBACK_PREFIX)
    ]
