"""The agent's tools: approval-gated actions and read-only memory lookups.

Action tools are declared with ``requires_approval=True``: a call never runs during triage, it
ends the run in ``DeferredToolRequests`` and becomes a draft in the approvals queue. Their
parameters are the approvals action models (plus a ``rationale`` the human reads). The tool
bodies have no side effects: on a resumed run an approved call only reports that the outbox
will execute it, because executing is the outbox's job, without a model call.

The draft models narrow the action models' schemas where a model can go wrong in a way a schema
can say: recipients are bare addresses (``format: email`` and a pattern), attachment names and
bodies are not empty. The offline model's grammar enforces these, so it cannot write ``[""]``.
Checks the model can act on (an address that is not one, a URL outside the allow-list, a note
path that leaves the notes folder) are ``args_validator``s that raise ``ModelRetry`` before the
call is deferred; a draft that stays invalid is dropped (see ``dropped``). The policy gate checks
every draft again when it is queued and before it runs.

The memory tools never fail a run: a missing file or heading is an answer that names what exists.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field
from pydantic_ai import ModelRetry, RunContext
from pydantic_ai.messages import ToolCallPart
from pydantic_ai.toolsets import FunctionToolset

from ambient.agent.deps import AgentDeps, AgentItem
from ambient.approvals.actions import CallWebhook, ReplyEmail, SendEmail, WriteNote, validate_action
from ambient.approvals.drafts import DraftedAction
from ambient.approvals.paths import UnsafePath, check_relative
from ambient.approvals.policy import url_allowed
from ambient.core.errors import AmbientError, NotFoundError
from ambient.memory.store import MemoryStore

APPROVED_RESULT = "approved by the user; the outbox executes it (do not call it again)"


def approved(summary: str) -> str:
    """What an approved call returns on a resumed run: no side effect, just the facts."""
    return f"{APPROVED_RESULT}: {summary}"


SEARCH_MAX_HITS = 20
RATIONALE_HELP = "Why this action, in one sentence; the user reads it before approving."
# The shape of a bare address, for the schema the model sees (the offline model's grammar keeps to
# ``format: email``); the value itself is checked by the action model, which also takes "Name <a>".
ADDRESS_PATTERN = r"^[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"

Address = Annotated[
    str,
    Field(
        min_length=6,
        max_length=254,
        json_schema_extra={"format": "email", "pattern": ADDRESS_PATTERN},
        description="A bare email address, e.g. dana@example.com.",
    ),
]
AttachmentName = Annotated[
    str, Field(min_length=1, max_length=255, description="A note's path, e.g. 'meetings/q3.md'.")
]
BODY_HELP = "The plain-text body."
ATTACHMENTS_HELP = "Notes to attach (paths relative to the notes folder); almost always []."


class ReplyEmailDraft(ReplyEmail):
    to: list[Address] = Field(
        default_factory=list,
        max_length=10,
        description="Recipients; leave empty to answer the sender (their Reply-To if set).",
    )
    cc: list[Address] = Field(default_factory=list, max_length=10, description="Copy addresses.")
    subject: str = Field(
        default="", max_length=998, description="Leave empty for 'Re: <original subject>'."
    )
    body: str = Field(min_length=1, description=BODY_HELP)
    attachments: list[AttachmentName] = Field(
        default_factory=list, max_length=5, description=ATTACHMENTS_HELP
    )
    rationale: str = Field(description=RATIONALE_HELP)


class SendEmailDraft(SendEmail):
    to: list[Address] = Field(min_length=1, max_length=10, description="Recipient addresses.")
    cc: list[Address] = Field(default_factory=list, max_length=10, description="Copy addresses.")
    body: str = Field(min_length=1, description=BODY_HELP)
    attachments: list[AttachmentName] = Field(
        default_factory=list, max_length=5, description=ATTACHMENTS_HELP
    )
    rationale: str = Field(description=RATIONALE_HELP)


class WriteNoteDraft(WriteNote):
    rationale: str = Field(description=RATIONALE_HELP)


class CallWebhookDraft(CallWebhook):
    rationale: str = Field(description=RATIONALE_HELP)


DRAFT_MODELS: dict[str, type[BaseModel]] = {
    "reply_email": ReplyEmailDraft,
    "send_email": SendEmailDraft,
    "write_note": WriteNoteDraft,
    "call_webhook": CallWebhookDraft,
}
ACTION_TOOLS = frozenset(DRAFT_MODELS)
MEMORY_TOOLS = frozenset({"read_section", "search"})  # their results are private memory text


# ---- argument checks the model can fix ----------------------------------------------------
def _check_reply(ctx: RunContext[AgentDeps], reply: ReplyEmailDraft) -> None:
    if not reply.to and not ctx.deps.item.reply_address:
        raise ModelRetry("the message has no sender address to reply to: give 'to' explicitly")


def _check_note(ctx: RunContext[AgentDeps], note: WriteNoteDraft) -> None:
    try:
        check_relative(note.path)
    except UnsafePath as error:
        raise ModelRetry(
            f"write_note: {error}; give a relative path inside the notes folder, e.g. "
            "'meetings/2026-11-24.md'"
        ) from None


def _check_webhook(ctx: RunContext[AgentDeps], call: CallWebhookDraft) -> None:
    allowlist = ctx.deps.settings.policy.webhook_allowlist
    if url_allowed(call.url, allowlist):
        return
    if not allowlist:
        raise ModelRetry("call_webhook: no webhook URLs are allowed in this configuration")
    allowed = ", ".join(allowlist)
    raise ModelRetry(f"call_webhook: {call.url!r} is not in the allow-list (allowed: {allowed})")


# ---- the tools ----------------------------------------------------------------------------
def build_toolset() -> FunctionToolset[AgentDeps]:
    toolset: FunctionToolset[AgentDeps] = FunctionToolset()

    @toolset.tool(requires_approval=True, args_validator=_check_reply)
    def reply_email(ctx: RunContext[AgentDeps], reply: ReplyEmailDraft) -> str:
        """Draft a reply to the message, threaded under it. Runs only after the user approves."""
        to = ", ".join(reply.to) or ctx.deps.item.reply_address
        return approved(f"reply to {to}, subject {reply.subject or ctx.deps.item.reply_subject!r}")

    @toolset.tool(requires_approval=True)
    def send_email(ctx: RunContext[AgentDeps], email: SendEmailDraft) -> str:
        """Draft a new email (not a reply). Runs only after the user approves."""
        return approved(f"email to {', '.join(email.to)}, subject {email.subject!r}")

    @toolset.tool(requires_approval=True, args_validator=_check_note)
    def write_note(ctx: RunContext[AgentDeps], note: WriteNoteDraft) -> str:
        """Draft a markdown note in the user's notes folder. Runs only after the user approves."""
        return approved(f"note {note.path!r}")

    @toolset.tool(requires_approval=True, args_validator=_check_webhook)
    def call_webhook(ctx: RunContext[AgentDeps], call: CallWebhookDraft) -> str:
        """Draft a POST of a JSON payload to an allow-listed URL. Runs only after approval."""
        return approved(f"POST to {call.url}")

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
    """A deferred call's arguments as the approvals action model has them, and its rationale.

    A reply without recipients goes to the sender; without a subject it gets "Re: …".
    Raises DecisionError (from ambient.approvals.actions) when they do not validate.
    """
    draft = DRAFT_MODELS[kind].model_validate(raw_args)
    fields = draft.model_dump(exclude={"rationale"})
    if kind == "reply_email":
        fields["to"] = fields["to"] or [item.reply_address]
        fields["subject"] = fields["subject"] or item.reply_subject
    rationale = str(getattr(draft, "rationale", "")).strip()
    return validate_action(kind, fields), rationale


def drafted_action(call: ToolCallPart, item: AgentItem, fallback_rationale: str) -> DraftedAction:
    args, rationale = action_args(call.tool_name, call.args_as_dict(), item)
    return DraftedAction(
        kind=call.tool_name,
        tool_call_id=call.tool_call_id,
        args=args,
        rationale=rationale or fallback_rationale,
    )
