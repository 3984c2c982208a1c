"""What the offline model may answer on one request, as one grammar-constrained JSON object.

Each request offers a set of choices: call a function tool, call an output tool (the agent's
structured result), give a structured answer (native / prompted output) or plain text. With one
choice the answer is that choice's value itself; with several it is an envelope
``{"tool": NAME, "arguments": {...}}``, ``{"answer": {...}}`` or ``{"text": "..."}``.

A small model calls a tool over and over if it keeps being offered one, so once a function tool
has answered, only the final choices are offered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic_ai.messages import (
    BaseToolReturnPart,
    ModelMessage,
    ModelRequest,
    ModelResponsePart,
    TextPart,
    ToolCallPart,
)
from pydantic_ai.models import ModelRequestParameters

from ambient.models.local.grammar import (
    GrammarBuilder,
    GrammarLimits,
    Schema,
    definitions_of,
    json_literal,
)

TEXT_MAX_CHARS = 2_000


@dataclass(frozen=True)
class Choice:
    kind: Literal["tool", "answer", "text"]
    name: str
    description: str
    schema: Schema


def offered_choices(
    messages: Sequence[ModelMessage], parameters: ModelRequestParameters
) -> list[Choice]:
    """The choices for this request, function tools first, the final ones last."""
    function_names = {tool.name for tool in parameters.function_tools}
    tools_answered = any(
        isinstance(part, BaseToolReturnPart)
        and part.tool_name in function_names
        and part.outcome != "retried"
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
    )
    choices: list[Choice] = []
    if not tools_answered:
        choices += [
            Choice("tool", tool.name, tool.description or "", tool.parameters_json_schema)
            for tool in parameters.function_tools
        ]
    choices += [
        Choice(
            "tool", tool.name, tool.description or "The final result.", tool.parameters_json_schema
        )
        for tool in parameters.output_tools
    ]
    output_object = parameters.output_object
    if parameters.output_mode in ("native", "prompted") and output_object is not None:
        description = output_object.description or "The final answer."
        choices.append(Choice("answer", "answer", description, output_object.json_schema))
    elif parameters.allow_text_output or not choices:
        choices.append(Choice("text", "text", "Your reply in plain words.", {"type": "string"}))
    return choices


def answer_grammar(choices: Sequence[Choice], limits: GrammarLimits | None = None) -> str:
    """The GBNF grammar of one answer: the single choice's value, or one of the envelopes."""
    builder = GrammarBuilder(limits)
    rules = []
    for index, choice in enumerate(choices):
        if choice.kind == "text":
            value = builder.add("text", f'"\\"" char{{1,{TEXT_MAX_CHARS}}} "\\""')
        else:
            value = builder.value(choice.schema, definitions_of(choice.schema), f"c{index}")
        if len(choices) == 1:
            return builder.render(value)
        rules.append(builder.add(f"choice-{index}", _envelope(choice, value)))
    return builder.render(" | ".join(rules))


def _envelope(choice: Choice, value_rule: str) -> str:
    if choice.kind == "tool":
        head = f'"{{" ws "\\"tool\\":" ws {json_literal(choice.name)} "," ws '
        return head + f'"\\"arguments\\":" ws {value_rule} ws "}}"'
    return f'"{{" ws "\\"{choice.kind}\\":" ws {value_rule} ws "}}"'


def answer_guide(choices: Sequence[Choice]) -> str:
    """How to answer, for the system prompt: the grammar enforces it, this explains it."""
    if len(choices) == 1:
        choice = choices[0]
        if choice.kind == "text":
            return "Answer in plain words, as one JSON string."
        lines = [
            "Answer with one JSON object and nothing else: "
            + sketch(choice.schema, definitions_of(choice.schema)),
            choice.description,
        ]
        return "\n".join([*lines, *_field_notes(choice.schema)])
    lines = ["Answer with exactly one JSON object and nothing else, one of:"]
    for choice in choices:
        value = sketch(choice.schema, definitions_of(choice.schema))
        if choice.kind == "tool":
            shape = f'{{"tool": {json.dumps(choice.name)}, "arguments": {value}}}'
        elif choice.kind == "answer":
            shape = f'{{"answer": {value}}}'
        else:
            shape = '{"text": string}'
        lines.append(f"- {shape}: {choice.description.strip()}")
    return "\n".join(lines)


def _field_notes(schema: Schema) -> list[str]:
    notes = []
    for name, field_schema in (schema.get("properties") or {}).items():
        if isinstance(field_schema, dict) and field_schema.get("description"):
            notes.append(f"- {name}: {field_schema['description']}")
    return notes


def sketch(schema: Schema, defs: Schema, depth: int = 0) -> str:
    """A short type sketch of a schema, such as {"decision": "ignore"|"act", "reason": string}."""
    reference = schema.get("$ref")
    if isinstance(reference, str):
        schema = {**defs.get(reference.rsplit("/", 1)[-1], {}), **schema}
        schema.pop("$ref")
    if depth > 3:
        return "..."
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return "|".join(json.dumps(value) for value in schema["enum"])
    union = schema.get("anyOf") or schema.get("oneOf")
    if union:
        return "|".join(sketch(member, defs, depth + 1) for member in union)
    kind = schema.get("type", "object" if "properties" in schema else "value")
    if kind == "array":
        return f"[{sketch(schema.get('items', {}), defs, depth + 1)}, ...]"
    if kind == "object":
        properties = schema.get("properties") or {}
        inner = ", ".join(
            f"{json.dumps(name)}: {sketch(value, defs, depth + 1)}"
            for name, value in properties.items()
        )
        return "{" + inner + "}"
    return str(kind)


def parse_answer(text: str, choices: Sequence[Choice]) -> list[ModelResponsePart]:
    """The response parts for the model's answer.

    An answer that is not valid JSON (cut off at the token limit) still goes back to the agent,
    whose validation error tells the model to try again.
    """
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError:
        value = None
        if len(choices) == 1:
            return [_part(choices[0], text, raw=True)]
    if len(choices) == 1:
        return [_part(choices[0], value)]
    if isinstance(value, dict):
        if "tool" in value:
            for choice in choices:
                if choice.kind == "tool" and choice.name == value["tool"]:
                    return [_part(choice, value.get("arguments", {}))]
        for choice in choices:
            if choice.kind in ("answer", "text") and choice.kind in value:
                return [_part(choice, value[choice.kind])]
    return [TextPart(content=text)]


def _part(choice: Choice, value: Any, *, raw: bool = False) -> ModelResponsePart:
    if choice.kind == "tool":
        return ToolCallPart(
            tool_name=choice.name, args=value if raw or isinstance(value, dict) else {}
        )
    if choice.kind == "answer":
        return TextPart(content=value if raw else json.dumps(value))
    return TextPart(content=value if isinstance(value, str) else json.dumps(value))
