"""One agent run on one item: triage it, or resume a paused run with the human's decisions.

A run ends either in a :class:`Triage` (nothing to approve) or in ``DeferredToolRequests``: the
drafted actions, each turned into a :class:`DraftedAction` for the approvals queue, with the
run state needed to resume. Each run has usage limits and a deadline. Provider errors are
classified once, here: what can never succeed for this item raises ``PermanentItemError``
(quarantine); anything else propagates so the ledger retries with backoff.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, ModelRetry, RunContext
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.exceptions import (
    ContentFilterError,
    ModelContextWindowExceededError,
    UsageLimitExceeded,
)
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models import Model
from pydantic_ai.run import AgentRunResult
from pydantic_ai.usage import UsageLimits

from ambient.agent.deps import AgentDeps, AgentItem
from ambient.agent.prompt import (
    INSTRUCTIONS,
    PromptPlan,
    estimate_tokens,
    plan_prompt,
    run_instructions,
)
from ambient.agent.state import RunState
from ambient.agent.tools import ACTION_TOOLS, build_toolset, drafted_action
from ambient.agent.triage import Triage, provisional_triage
from ambient.approvals.drafts import DraftedAction
from ambient.clock import Clock
from ambient.config import Settings
from ambient.daemon.worker import PermanentItemError
from ambient.memory.store import MemoryStore

log = logging.getLogger(__name__)

NO_RATIONALE = "(the model gave no rationale)"
RATIONALE_MAX_CHARS = 500
STATED_TRIAGE_RETRY = (
    "Triage noted. The action calls in this reply now wait for the user's approval; when their "
    "results come back, give the triage again."
)

Output = Triage | DeferredToolRequests


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced: its triage, and the drafts with the state to resume them."""

    triage: Triage
    drafts: list[DraftedAction]
    run_state: RunState | None


def _instructions(ctx: RunContext[AgentDeps]) -> str:
    return run_instructions(ctx.deps)


def _stated_with_actions(ctx: RunContext[AgentDeps], output: Output) -> Output:
    """A triage given in the same reply as action calls would drop those calls: keep the
    triage aside and let the calls be deferred instead (the model gives it again later)."""
    if isinstance(output, DeferredToolRequests) or not ctx.messages:
        return output
    response = ctx.messages[-1]
    if isinstance(response, ModelResponse) and any(
        isinstance(part, ToolCallPart) and part.tool_name in ACTION_TOOLS for part in response.parts
    ):
        ctx.deps.stated_triage = output
        raise ModelRetry(STATED_TRIAGE_RETRY)
    return output


def text_before_call(messages: list[ModelMessage], tool_call_id: str) -> str:
    """The text the model wrote before a tool call in the same reply (a fallback rationale)."""
    for message in reversed(messages):
        if not isinstance(message, ModelResponse):
            continue
        texts: list[str] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                texts.append(part.content)
            elif isinstance(part, ToolCallPart) and part.tool_call_id == tool_call_id:
                text = " ".join(" ".join(texts).split())
                return text[:RATIONALE_MAX_CHARS]
    return ""


def classify_failure(error: Exception) -> Exception:
    """The error to raise for a failed run: permanent ones quarantine the item at once."""
    if isinstance(error, UsageLimitExceeded):
        return PermanentItemError(f"the run hit its usage limit ({error}); raise agent limits")
    if isinstance(error, ModelContextWindowExceededError):
        return PermanentItemError(f"the prompt does not fit the model's context: {error}")
    if isinstance(error, ContentFilterError):
        return PermanentItemError(f"the provider's content filter refused the item: {error}")
    return error


class TriageAgent:
    """The Pydantic AI agent with ambient's tools, instructions and limits."""

    def __init__(
        self,
        settings: Settings,
        model: Model | str,
        memory: MemoryStore,
        clock: Clock,
        *,
        capabilities: Sequence[AbstractCapability[Any]] = (),
    ) -> None:
        self.settings = settings
        self.memory = memory
        self.clock = clock
        self.capabilities = list(capabilities)  # e.g. tracing's Instrumentation
        toolset = build_toolset()
        self.agent: Agent[AgentDeps, Output] = Agent(
            model,
            output_type=[Triage, DeferredToolRequests],
            deps_type=AgentDeps,
            instructions=[INSTRUCTIONS, _instructions],
            toolsets=[toolset],
            retries={"tools": 2, "output": 3},
            name="ambient-triage",
            defer_model_check=True,
        )
        self.agent.output_validator(_stated_with_actions)
        schemas = [Triage.model_json_schema()] + [
            {"d": tool.tool_def.description, "p": tool.tool_def.parameters_json_schema}
            for tool in toolset.tools.values()
        ]
        self.overhead_tokens = estimate_tokens(json.dumps(schemas))

    @property
    def usage_limits(self) -> UsageLimits:
        return UsageLimits(
            request_limit=self.settings.agent.request_limit,
            total_tokens_limit=self.settings.agent.total_tokens_limit,
        )

    def prepare(self, item: AgentItem) -> tuple[AgentDeps, PromptPlan]:
        plan = plan_prompt(item, self.settings, self.overhead_tokens)
        deps = AgentDeps(
            item=item,
            memory=self.memory,
            settings=self.settings,
            clock=self.clock,
            memory_budget_tokens=plan.memory_budget_tokens,
        )
        return deps, plan

    async def triage(self, item: AgentItem) -> RunOutcome:
        """Run the agent on a new item."""
        deps, plan = self.prepare(item)
        result = await self._run(deps, user_prompt=plan.user_prompt)
        return self._outcome(result, deps)

    async def resume(
        self, item: AgentItem, state: RunState, results: DeferredToolResults
    ) -> RunOutcome:
        """Continue a paused run with the human's answers to its deferred calls."""
        deps, _plan = self.prepare(item)
        result = await self._run(
            deps, message_history=state.messages, deferred_tool_results=results
        )
        return self._outcome(result, deps)

    async def _run(
        self,
        deps: AgentDeps,
        *,
        user_prompt: str | None = None,
        message_history: list[ModelMessage] | None = None,
        deferred_tool_results: DeferredToolResults | None = None,
    ) -> AgentRunResult[Output]:
        try:
            return await self.agent.run(
                user_prompt,
                deps=deps,
                message_history=message_history,
                deferred_tool_results=deferred_tool_results,
                usage_limits=self.usage_limits,
                timeout=self.settings.agent.timeout_seconds,
                metadata={"item_id": deps.item.item_id, "trace_id": deps.item.trace_id},
                capabilities=self.capabilities or None,
            )
        except Exception as error:
            classified = classify_failure(error)
            log.warning(
                "item=%s trace=%s agent run failed: %s: %s",
                deps.item.item_id,
                deps.item.trace_id,
                type(error).__name__,
                error,
            )
            if classified is error:
                raise
            raise classified from error

    def _outcome(self, result: AgentRunResult[Output], deps: AgentDeps) -> RunOutcome:
        output = result.output
        if isinstance(output, Triage):
            return RunOutcome(triage=output, drafts=[], run_state=None)
        messages = result.all_messages()
        if output.calls:
            log.warning(
                "item=%s external tool calls ignored: %s",
                deps.item.item_id,
                [call.tool_name for call in output.calls],
            )
        drafts = [
            drafted_action(
                call, deps.item, text_before_call(messages, call.tool_call_id) or NO_RATIONALE
            )
            for call in output.approvals
        ]
        triage = deps.stated_triage or provisional_triage(
            deps.item.message.subject,
            [draft.rationale for draft in drafts if draft.rationale != NO_RATIONALE],
        )
        state = RunState(messages=messages, requests=output)
        return RunOutcome(triage=triage, drafts=drafts, run_state=state)
