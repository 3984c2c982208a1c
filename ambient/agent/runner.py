"""One agent run on one item: triage it, or resume a paused run with the human's decisions.

A run ends either in a :class:`Triage` (nothing to approve) or in ``DeferredToolRequests``: the
drafted actions, each turned into a :class:`DraftedAction` for the approvals queue, with the
run state needed to resume. A draft whose arguments stay invalid is dropped with a note in the
triage (see ``dropped``), never a failed run. Each run has usage limits and a deadline, counted
from when the run starts: on an in-process model, after waiting for its turn (``local_turns``).
Run failures are classified once, here: what can never succeed for this item raises
``PermanentItemError`` (quarantine); a model or provider error or a timeout raises
``TransientItemError`` (retried with backoff, logged in one line); a bug propagates as is.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, ModelRetry, RunContext
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.exceptions import (
    AgentRunError,
    ContentFilterError,
    FallbackExceptionGroup,
    ModelContextWindowExceededError,
    UsageLimitExceeded,
)
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.run import AgentRunResult
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.usage import RunUsage, UsageLimits

from ambient.agent.deps import AgentDeps, AgentItem, DroppedDraft
from ambient.agent.dropped import DropFailingDrafts, describe_invalid, note_dropped
from ambient.agent.examples import ExampleSource, PastDecision
from ambient.agent.mcp import drafted_mcp_call, is_mcp_draft, is_mcp_read_only
from ambient.agent.prompt import (
    PromptPlan,
    fixed_texts,
    instructions,
    memory_budget,
    plan_prompt,
    run_instructions,
    shown_examples,
)
from ambient.agent.state import RunState
from ambient.agent.tools import (
    MEMORY_TOOLS,
    action_tools,
    build_toolset,
    drafted_action,
    drafted_calls,
)
from ambient.agent.triage import Triage, provisional_triage
from ambient.approvals.drafts import DraftedAction
from ambient.core.clock import Clock
from ambient.core.config import Settings
from ambient.core.errors import DecisionError
from ambient.core.lineage import Lineage, version_hash
from ambient.core.processing import PermanentItemError, TransientItemError
from ambient.memory.store import MemoryStore
from ambient.memory.version import MemoryVersion
from ambient.models.conversation import estimate_tokens
from ambient.models.local.turns import model_turn

log = logging.getLogger(__name__)

NO_RATIONALE = "(the model gave no rationale)"
RATIONALE_MAX_CHARS = 500
STATED_TRIAGE_RETRY = (
    "Triage noted. The action calls in this reply now wait for the user's approval; when their "
    "results come back, give the triage again."
)

Output = Triage | DeferredToolRequests
TOOL_RETRIES = 2  # invalid arguments sent back to the model before the draft is dropped


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced: its triage, and the drafts with the state to resume them."""

    triage: Triage
    drafts: list[DraftedAction]
    run_state: RunState | None
    dropped: list[DroppedDraft] = field(default_factory=list)
    memory_read: tuple[str, ...] = ()  # the private text the run saw (memory, MCP reads)
    usage: RunUsage = field(default_factory=RunUsage)  # model requests and tokens of this run
    examples: tuple[int, ...] = ()  # the past items shown to the model as examples


# Both are async although they never await: Pydantic AI runs a plain function in a worker
# thread, and the hop (twice per model request) cost more CPU than the work (the memory is
# cached against its files' stat, see MemoryStore.load).
async def _instructions(ctx: RunContext[AgentDeps]) -> str:
    return run_instructions(ctx.deps)


async def _stated_with_actions(ctx: RunContext[AgentDeps], output: Output) -> Output:
    """A triage given in the same reply as action calls would drop those calls: keep the
    triage aside and let the calls be deferred instead (the model gives it again later)."""
    if isinstance(output, DeferredToolRequests) or not ctx.messages:
        return output
    response = ctx.messages[-1]
    tools = action_tools()
    if isinstance(response, ModelResponse) and any(
        isinstance(part, ToolCallPart)
        and (part.tool_name in tools or is_mcp_draft(part.tool_name, ctx.deps.settings))
        for part in response.parts
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


def memory_tool_results(messages: list[ModelMessage], settings: Settings) -> list[str]:
    """What the memory tools and the MCP servers' read-only tools returned earlier in a run:
    private text a resumed run's model still sees."""
    return [
        part.model_response_str()
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
        and (part.tool_name in MEMORY_TOOLS or is_mcp_read_only(part.tool_name, settings))
    ]


def first_user_prompt(messages: list[ModelMessage]) -> str | None:
    """The text a run began with (the examples and the email), if it was text."""
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return None


def classify_failure(error: Exception) -> Exception:
    """The error to raise for a failed run: permanent ones quarantine the item at once,
    expected ones (model, provider, timeout) are retried, anything else is a bug."""
    if isinstance(error, UsageLimitExceeded):
        return PermanentItemError(f"the run hit its usage limit ({error}); raise agent limits")
    if isinstance(error, ModelContextWindowExceededError):
        return PermanentItemError(f"the prompt does not fit the model's context: {error}")
    if isinstance(error, ContentFilterError):
        return PermanentItemError(f"the provider's content filter refused the item: {error}")
    if isinstance(error, AgentRunError | TimeoutError | FallbackExceptionGroup):
        text = " ".join(str(error).split()) or "no details"
        return TransientItemError(f"the agent run failed: {type(error).__name__}: {text}")
    return error


def configured_model(settings: Settings) -> str:
    """The model as configured (AMBIENT_MODEL, and AMBIENT_FALLBACK_MODEL if set)."""
    if settings.fallback_model is None:
        return settings.model_name
    return f"{settings.model_name} (fallback {settings.fallback_model})"


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
        model_string: str | None = None,
        examples: ExampleSource | None = None,
        toolsets: Sequence[AbstractToolset[AgentDeps]] = (),  # e.g. the MCP servers' (agent.mcp)
    ) -> None:
        self.settings = settings
        self.model = model
        self.memory = memory
        self.clock = clock
        self.capabilities = list(capabilities)  # e.g. tracing's Instrumentation
        self.examples = examples  # past decisions to show (settings.agent.examples of them)
        # how lineage names the model: as given, else as configured
        configured = model if isinstance(model, str) else configured_model(settings)
        self.model_string = model_string or configured
        self.memory_version = MemoryVersion(memory.folder)
        toolset = build_toolset()
        self.agent: Agent[AgentDeps, Output] = Agent(
            model,
            output_type=[Triage, DeferredToolRequests],
            deps_type=AgentDeps,
            instructions=[instructions(), _instructions],
            toolsets=[toolset, *toolsets],
            retries={"tools": TOOL_RETRIES, "output": 3},
            name="ambient-triage",
            defer_model_check=True,
            capabilities=[DropFailingDrafts()],
        )
        self.agent.output_validator(_stated_with_actions)
        schemas = [Triage.model_json_schema()] + [
            {"d": tool.tool_def.description, "p": tool.tool_def.parameters_json_schema}
            for tool in toolset.tools.values()
        ]
        self.overhead_tokens = estimate_tokens(json.dumps(schemas))
        # the same from run to run: no date, no memory, only what this code tells the model
        self.prompt_version = version_hash(
            {**fixed_texts(), "tools": list(toolset.tools), "schemas": schemas}
        )

    def lineage(self, policy_version: str, examples: tuple[int, ...] = ()) -> Lineage:
        """What a run of this agent decides with, now (it may run git: call it in a thread)."""
        return Lineage(
            model=self.model_string,
            prompt_version=self.prompt_version,
            memory_commit=self.memory_version.current(),
            policy_version=policy_version,
            examples=examples,
        )

    @property
    def usage_limits(self) -> UsageLimits:
        return UsageLimits(
            request_limit=self.settings.agent.request_limit,
            total_tokens_limit=self.settings.agent.total_tokens_limit,
        )

    async def similar(self, item: AgentItem) -> list[PastDecision]:
        """The past decisions to show `item`'s run as examples (none when they are off)."""
        limit = self.settings.agent.examples
        if self.examples is None or limit <= 0:
            return []
        return await asyncio.to_thread(self.examples.similar, item, limit)

    def prepare(
        self, item: AgentItem, examples: Sequence[PastDecision] = ()
    ) -> tuple[AgentDeps, PromptPlan]:
        plan = plan_prompt(item, self.settings, self.overhead_tokens, examples)
        deps = AgentDeps(
            item=item,
            memory=self.memory,
            settings=self.settings,
            clock=self.clock,
            memory_budget_tokens=plan.memory_budget_tokens,
            examples=plan.examples,
        )
        return deps, plan

    async def triage(
        self, item: AgentItem, examples: Sequence[PastDecision] | None = None
    ) -> RunOutcome:
        """Run the agent on a new item, with `examples` (None: looked up, see `similar`)."""
        if examples is None:
            examples = await self.similar(item)
        deps, plan = self.prepare(item, examples)
        result = await self._run(deps, user_prompt=plan.user_prompt)
        return self._outcome(result, deps)

    async def resume(
        self, item: AgentItem, state: RunState, results: DeferredToolResults
    ) -> RunOutcome:
        """Continue a paused run with the human's answers to its deferred calls."""
        deps, _plan = self.prepare(item)
        prompt = first_user_prompt(state.messages)
        if prompt is not None:  # the budget and the examples of the run as it began
            deps.memory_budget_tokens = memory_budget(self.settings, self.overhead_tokens, prompt)
            deps.examples = shown_examples(prompt)
        for text in memory_tool_results(state.messages, self.settings):
            deps.saw_memory(text)
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
            async with model_turn(self.model):  # the timeout starts once it is this run's turn
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
            if classified is error:
                raise
            if isinstance(classified, PermanentItemError):
                log.warning(
                    "item=%s trace=%s agent run cannot succeed: %s",
                    deps.item.item_id,
                    deps.item.trace_id,
                    classified,
                )
            raise classified from error

    def _outcome(self, result: AgentRunResult[Output], deps: AgentDeps) -> RunOutcome:
        output = result.output
        dropped = deps.dropped_drafts
        usage = result.usage
        examples = deps.examples
        if isinstance(output, Triage):
            triage = note_dropped(output, dropped, drafts_left=0)
            return RunOutcome(triage, [], None, list(dropped), usage=usage, examples=examples)
        memory_read = tuple(deps.memory_read)
        messages = result.all_messages()
        calls = drafted_calls(output)
        if ignored := [call.tool_name for call in output.calls if call not in calls]:
            log.warning("item=%s external tool calls ignored: %s", deps.item.item_id, ignored)
        drafts = []
        for call in calls:
            rationale = text_before_call(messages, call.tool_call_id) or NO_RATIONALE
            try:
                drafts.append(
                    drafted_mcp_call(call, deps.settings, rationale)
                    or drafted_action(call, deps.item, rationale)
                )
            except (DecisionError, ValidationError) as error:  # not valid for the action model
                dropped.append(DroppedDraft(call.tool_name, describe_invalid(error)))
        triage = deps.stated_triage or provisional_triage(
            deps.item.message.subject,
            [draft.rationale for draft in drafts if draft.rationale != NO_RATIONALE],
        )
        triage = note_dropped(triage, dropped, drafts_left=len(drafts))
        if not drafts:
            return RunOutcome(triage, [], None, list(dropped), usage=usage, examples=examples)
        state = RunState(messages=messages, requests=output)
        return RunOutcome(triage, drafts, state, list(dropped), memory_read, usage, examples)
