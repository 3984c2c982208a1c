"""The agent's tools: one approval-gated tool per drafted action kind, read-only memory lookups.

Each action kind the registry (``ambient.approvals.kinds``) holds a draft schema for is one tool
with ``requires_approval=True``: a call never runs during triage, it ends the run in
``DeferredToolRequests`` and becomes a draft in the approvals queue (a question to the user,
ask_user, is deferred as a Pydantic AI question instead: the human's answer becomes the call's
result when the run resumes). Its parameters are the kind's draft schema (the kind's arguments,
narrowed where a model goes wrong in a way a schema can say, plus a ``rationale`` the human
reads); the offline model's grammar enforces them, so it cannot write ``[""]``. The tool bodies
have no side effects: on a resumed run an approved call only reports that the outbox will
execute it, because executing is the outbox's job, without a model call. Checks the model can
act on (an address that is not one, a URL outside the allow-list, a note path that leaves the
notes folder) are the kind's ``check_draft``, run as the tool's ``args_validator``
(``ModelRetry``) before the call is deferred; a draft that stays invalid is dropped (see
``dropped``). The policy gate checks every draft again when it is queued and before it runs.

The memory tools never fail a run: a missing file or heading is an answer that names what exists.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import CallDeferred, DeferredToolRequests, ModelRetry, RunContext
from pydantic_ai.messages import ToolCallPart
from pydantic_ai.toolsets import FunctionToolset

from ambient.agent.deps import AgentDeps, AgentItem
from ambient.approvals.drafts import DraftedAction
from ambient.approvals.kinds import KINDS, DraftToFix, Kind
from ambient.core.errors import AmbientError, NotFoundError
from ambient.memory.store import MemoryStore

APPROVED_RESULT = "approved by the user; the outbox executes it (do not call it again)"


def approved(summary: str) -> str:
    """What an approved call returns on a resumed run: no side effect, just the facts."""
    return f"{APPROVED_RESULT}: {summary}"


SEARCH_MAX_HITS = 20
MEMORY_TOOLS = frozenset({"read_section", "search"})  # their results are private memory text


def action_tools() -> frozenset[str]:
    """The names of the action tools: the kinds the agent drafts."""
    return KINDS.tool_names()


# ---- the tools ----------------------------------------------------------------------------
def add_action_tool(toolset: FunctionToolset[AgentDeps], kind: Kind[Any]) -> None:
    """The kind's tool: its draft schema as the parameters, deferred for approval; a kind that
    asks the user (ask_user) is deferred as a Pydantic AI question, answered with the result."""
    assert kind.draft is not None

    def draft_action(ctx: RunContext[AgentDeps], draft: Any) -> str:
        if kind.asks:
            raise CallDeferred(kind="question")
        return approved(kind.approved(kind.from_draft(draft, ctx.deps.item)))

    def check_draft(ctx: RunContext[AgentDeps], draft: Any) -> None:
        try:
            kind.check_draft(draft, ctx.deps.item, ctx.deps.settings)
        except DraftToFix as problem:
            raise ModelRetry(str(problem)) from None

    # The parameter's type is the kind's draft schema, known only now (Pydantic AI reads it).
    draft_action.__annotations__ = {
        "ctx": RunContext[AgentDeps],
        "draft": kind.draft,
        "return": str,
    }
    toolset.add_function(
        draft_action,
        name=kind.name,
        description=kind.description,
        requires_approval=not kind.asks,
        args_validator=check_draft,
    )


def build_toolset() -> FunctionToolset[AgentDeps]:
    toolset: FunctionToolset[AgentDeps] = FunctionToolset()
    for kind in KINDS.tools():
        add_action_tool(toolset, kind)

    @toolset.tool
    def read_section(ctx: RunContext[AgentDeps], file: str, heading: str = "") -> str:
        """Read one section of a memory file by its heading, or the whole file if heading is empty.

        Args:
            file: The memory file, e.g. "contacts.md".
            heading: A heading in that file; empty for the whole file.
        """
        text = read_memory(ctx.deps.memory, file, heading)
        ctx.deps.saw_memory(text)
        return text

    @toolset.tool
    def search(ctx: RunContext[AgentDeps], query: str) -> str:
        """Search every memory file for lines containing the words of the query.

        Args:
            query: Words to look for, e.g. a person's name or a topic.
        """
        text = search_memory(ctx.deps.memory, query)
        ctx.deps.saw_memory(text)
        return text

    return toolset


def memory_files_note(memory: MemoryStore) -> str:
    names = memory.names()
    return f"the memory files are: {', '.join(names)}" if names else "there are no memory files"


def read_memory(memory: MemoryStore, file: str, heading: str) -> str:
    """A section or the whole file (bounded); for a missing one, what exists instead."""
    try:
        memory.load(file)
    except NotFoundError:
        return f"no memory file {file!r}; {memory_files_note(memory)}"
    except (AmbientError, ValueError) as error:
        return f"cannot read memory file {file!r}: {error}; {memory_files_note(memory)}"
    try:
        return memory.read_section(file, heading or None)
    except (AmbientError, ValueError) as error:  # no such heading: the message names them all
        return str(error)


def search_memory(memory: MemoryStore, query: str) -> str:
    try:
        hits = memory.search(query, limit=SEARCH_MAX_HITS)
    except (AmbientError, ValueError) as error:
        return f"the memory cannot be searched now: {error}"
    if not hits:
        return f"no line in memory matches {query!r}; {memory_files_note(memory)}"
    return "\n".join(str(hit) for hit in hits)


# ---- deferred calls -> drafts -------------------------------------------------------------
def action_args(kind: str, raw_args: dict[str, Any], item: AgentItem) -> tuple[dict[str, Any], str]:
    """A deferred call's arguments as its kind has them (defaults from the item filled in: a
    reply without recipients goes to the sender), and its rationale.

    Raises DecisionError (or pydantic's ValidationError) when they do not validate.
    """
    action_kind = KINDS.of(kind)
    draft = (action_kind.draft or action_kind.arguments).model_validate(raw_args)
    rationale = str(getattr(draft, "rationale", "")).strip()
    return action_kind.validate(action_kind.from_draft(draft, item)), rationale


def drafted_calls(requests: DeferredToolRequests) -> list[ToolCallPart]:
    """The deferred calls that are drafts: every call waiting for approval, and the questions
    to the user (in the order the model made them); other external calls are not ambient's."""
    questions = [
        call
        for call in requests.calls
        if requests.kind(call.tool_call_id) == "question" and call.tool_name in action_tools()
    ]
    return [*requests.approvals, *questions]


def drafted_action(call: ToolCallPart, item: AgentItem, fallback_rationale: str) -> DraftedAction:
    args, rationale = action_args(call.tool_name, call.args_as_dict(), item)
    return DraftedAction(
        kind=call.tool_name,
        tool_call_id=call.tool_call_id,
        args=args,
        rationale=rationale or fallback_rationale,
    )
