"""Drafts the model cannot get right are dropped with a note; they never fail the item.

Each action tool has a small retry budget: an invalid call goes back to the model with what was
wrong (Pydantic AI's retry prompt). When the last attempt fails too, the call ends as a failed
tool result the model sees (Pydantic AI's ``ToolFailed``) instead of ending the whole run, the
tool is no longer offered for the rest of the run, and the reason is kept so that the triage
says which draft was dropped and why. The same holds for every model, hosted or local.

A deferred call whose arguments pass the tool's schema but not the approvals action model is
dropped the same way when the run's drafts are collected (see ``runner``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_ai import ModelRetry, RunContext, ToolFailed
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.messages import ToolCallPart
from pydantic_ai.tools import ToolDefinition

from ambient.agent.deps import AgentDeps, DroppedDraft
from ambient.agent.mcp import is_mcp_draft
from ambient.agent.tools import action_tools
from ambient.agent.triage import Triage

REASON_MAX_CHARS = 160


def describe_invalid(error: ValidationError | ModelRetry | Exception) -> str:
    """What was wrong with the arguments, in one short line."""
    if isinstance(error, ValidationError):
        details = []
        for detail in error.errors():
            where = ".".join(str(part) for part in detail["loc"]) or "arguments"
            details.append(f"{where}: {detail['msg'].removeprefix('Value error, ')}")
        text = "; ".join(details)
    elif isinstance(error, ModelRetry):
        text = error.message
    else:
        text = str(error)
    text = " ".join(text.split())
    return text if len(text) <= REASON_MAX_CHARS else text[: REASON_MAX_CHARS - 1] + "…"


@dataclass
class DropFailingDrafts(AbstractCapability[AgentDeps]):
    """Turns an action call's last failed validation into a dropped draft (see module doc)."""

    @classmethod
    def get_serialization_name(cls) -> str | None:
        return None  # ambient's own, not for agent specs

    async def prepare_tools(
        self, ctx: RunContext[AgentDeps], tool_defs: list[ToolDefinition]
    ) -> list[ToolDefinition]:
        dropped = {draft.kind for draft in ctx.deps.dropped_drafts}
        return [tool for tool in tool_defs if tool.name not in dropped]

    async def on_tool_validate_error(
        self,
        ctx: RunContext[AgentDeps],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: object,
        error: ValidationError | ModelRetry,
    ) -> dict[str, object]:
        drafting = call.tool_name in action_tools() or is_mcp_draft(
            call.tool_name, ctx.deps.settings
        )
        if not drafting or ctx.retry < ctx.max_retries:
            raise error
        reason = describe_invalid(error)
        ctx.deps.dropped_drafts.append(DroppedDraft(call.tool_name, reason))
        raise ToolFailed(
            f"{call.tool_name} was dropped: its arguments were invalid {ctx.max_retries + 1} "
            f"times (last: {reason}). Do not call it again; give your triage."
        )


def note_dropped(triage: Triage, dropped: list[DroppedDraft], *, drafts_left: int) -> Triage:
    """The triage, saying which drafts were dropped and why.

    "act" with nothing left to approve becomes "notify": the user should still see the item.
    """
    if not dropped:
        return triage
    note = "; ".join(f"{draft.kind}: {draft.reason}" for draft in dropped)
    decision = "notify" if triage.decision == "act" and drafts_left == 0 else triage.decision
    return Triage.model_validate(
        {
            **triage.model_dump(),
            "decision": decision,
            "reason": f"[dropped invalid draft(s): {note}] {triage.reason}",
        }
    )
