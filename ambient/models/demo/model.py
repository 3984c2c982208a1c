"""``AMBIENT_MODEL=test``: the demo model, deterministic and offline, that goes round the loop.

A Pydantic AI ``FunctionModel`` playing both of ambient's agents by plain rules, from what a
real model is shown (the instructions with the memory, the framed email, the tool results),
through the same tools and output types:

- the triage agent (``demo_triage``): bulk mail is ignored, a question or request to the user
  gets ONE ``reply_email`` draft (a short holding reply naming the subject), anything else is
  notify; a memory line naming the sender can say ignore or never reply. When the memory is
  not in the instructions whole, it first searches the memory for the sender's address.
  Feedback on a draft gets the draft again with the feedback applied;
- the reflection agent (``ambient.models.demo.reflection``): after feedback, a rejection with
  a reason or an answer to a question, one bullet in the memory file it belongs to, recording
  the user's words.

Each response reports usage as a provider would count it: every request sends the
instructions, the tool definitions and the whole conversation so far (input tokens); the
response is the output; both estimated at four characters a token. Nothing is sent anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from ambient.models.conversation import estimate_tokens
from ambient.models.demo import reply as demo_reply
from ambient.models.demo import triage as demo_triage
from ambient.models.demo.reflection import reflection_parts

MODEL_NAME = "test"
MEMORY_TOOLS = frozenset({"search", "read_section"})
LOOKUP_HINTS = ('shown="', "memory files not shown", "No memory fits this prompt")
UNKNOWN_AGENT = "The demo model (AMBIENT_MODEL=test) only plays ambient's triage and memory agents."


def demo_model() -> FunctionModel:
    """The model behind ``AMBIENT_MODEL=test``."""
    return FunctionModel(respond, model_name=MODEL_NAME)


def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    tools = {tool.name for tool in info.function_tools}
    if "reply_email" in tools:
        parts = triage_parts(messages, info)
    elif any("MemoryChangeProposal" in tool.name for tool in info.output_tools):
        parts = reflection_parts(messages, info)
    else:
        parts = [TextPart(UNKNOWN_AGENT)]
    return ModelResponse(parts=parts, usage=estimate_usage(messages, info, parts))


# ---- usage ---------------------------------------------------------------------------------
def part_text(part: object) -> str:
    """A message part's text as a provider receives it (a tool call: its name and arguments)."""
    if isinstance(part, UserPromptPart):
        return part.content if isinstance(part.content, str) else str(part.content)
    if isinstance(part, ToolReturnPart):
        return part.tool_name + part.model_response_str()
    if isinstance(part, RetryPromptPart):
        return part.model_response()
    if isinstance(part, ToolCallPart):
        return part.tool_name + part.args_as_json_str()
    if isinstance(part, TextPart):
        return part.content
    return str(getattr(part, "content", ""))


def sent_texts(messages: list[ModelMessage], info: AgentInfo) -> list[str]:
    """What a request sends, in the order providers cache it: the tool definitions, the
    instructions, then the conversation so far, part by part."""
    definitions = [
        {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters_json_schema,
        }
        for tool in [*info.function_tools, *info.output_tools]
    ]
    sent = [json.dumps(definitions), info.instructions or ""]
    for message in messages:
        sent.extend(part_text(part) for part in message.parts)
    return sent


def estimate_usage(
    messages: list[ModelMessage], info: AgentInfo, parts: Sequence[ModelResponsePart]
) -> RequestUsage:
    """Input: instructions, tool definitions and the conversation; output: this response."""
    return RequestUsage(
        input_tokens=sum(estimate_tokens(text) for text in sent_texts(messages, info)),
        output_tokens=sum(estimate_tokens(part_text(part)) for part in parts),
    )


# ---- the triage agent ----------------------------------------------------------------------
def _triage_tool(info: AgentInfo) -> str:
    names = [tool.name for tool in info.output_tools]
    return next((name for name in names if "Triage" in name), names[0] if names else "final_result")


def _last_parts(messages: list[ModelMessage]) -> list[object]:
    last = messages[-1] if messages else None
    return list(last.parts) if isinstance(last, ModelRequest) else []


def _searched(messages: list[ModelMessage]) -> str:
    return "\n".join(
        str(part.content)
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.tool_name == "search"
    )


def triage_parts(messages: list[ModelMessage], info: AgentInfo) -> list[ModelResponsePart]:
    triage_tool = _triage_tool(info)
    email = demo_triage.read_email(messages)
    if email is None:
        nothing = {"decision": "notify", "reason": "No message found in the prompt.", "summary": ""}
        return [ToolCallPart(triage_tool, nothing)]
    user = demo_triage.read_user(info.instructions)
    instructions = info.instructions or ""
    searched = _searched(messages)
    tools = {tool.name for tool in info.function_tools}
    wants_lookup = any(hint in instructions for hint in LOOKUP_HINTS)
    if wants_lookup and not searched and email.sender_address and "search" in tools:
        return [ToolCallPart("search", {"query": email.sender_address})]
    verdict = demo_triage.decide(email, f"{instructions}\n{searched}", user)
    last = _last_parts(messages)
    redrafts = [
        part
        for part in last
        if isinstance(part, ToolReturnPart)
        and part.tool_name == "reply_email"
        and demo_reply.feedback_text(part) is not None
    ]
    if redrafts:
        feedback = demo_reply.run_feedback(messages, "reply_email")
        verdict, args = demo_reply.revision(email, user, verdict, feedback)
        calls = [] if args is None else [ToolCallPart("reply_email", args) for _ in redrafts]
        return [*calls, ToolCallPart(triage_tool, verdict.triage_args())]
    resumed = any(
        isinstance(part, RetryPromptPart)
        or (isinstance(part, ToolReturnPart) and part.tool_name not in MEMORY_TOOLS)
        for part in last
    )
    if verdict.decision != "act" or resumed:  # no second draft of what was drafted or refused
        return [ToolCallPart(triage_tool, verdict.triage_args())]
    reply = ToolCallPart("reply_email", demo_reply.reply_args(email, user, verdict))
    return [reply, ToolCallPart(triage_tool, verdict.triage_args())]
