"""JSON Schema to a GBNF grammar for the offline model: bounded, single-line, valid JSON.

llama.cpp's own schema conversion lets raw newlines into strings and lets a small model run on
inside a string until the context is full. This one is stricter, so whatever the model samples
is JSON that parses and ends:

- strings hold no control characters, only the escapes ``\\" \\\\ \\/ \\n \\t``, and at most
  ``max_string_chars`` characters (or the schema's smaller ``maxLength``);
- arrays hold at most ``max_array_items`` items, free-form objects at most as many keys;
- nesting deeper than ``max_depth`` (recursive schemas) is cut to scalar values;
- the only whitespace is one optional space, never a newline.

Keywords it cannot express (``pattern``, numeric bounds) are left to validation: the agent sends
a validation error back to the model, which tries again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

_CHAR = r'[^"\\\x00-\x1F\x7F] | "\\" ["\\/nt]'
_DIGITS_DATE = r'[0-9] [0-9] [0-9] [0-9] "-" [0-1] [0-9] "-" [0-3] [0-9]'
_DIGITS_TIME = r'[0-2] [0-9] ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})?'
_LABEL = "[a-zA-Z0-9] [a-zA-Z0-9-]{0,62}"
_FORMATS = {
    "date": _DIGITS_DATE,
    "time": _DIGITS_TIME,
    "date-time": f'{_DIGITS_DATE} "T" {_DIGITS_TIME} "Z"',
    "email": f'[a-zA-Z0-9._%+-]{{1,64}} "@" {_LABEL} ("." {_LABEL}){{0,4}} "." [a-zA-Z]{{2,12}}',
    "uri": r'"http" "s"? "://" [a-zA-Z0-9._~:/?#@!$&()*+,;=%-]{1,300}',
    "uuid": ' "-" '.join(f"[0-9a-f]{{{n}}}" for n in (8, 4, 4, 4, 12)),
}


@dataclass(frozen=True)
class GrammarLimits:
    max_string_chars: int = 300
    max_array_items: int = 8
    max_depth: int = 6


def literal(text: str) -> str:
    """A GBNF string literal matching exactly `text`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


def json_literal(value: Any) -> str:
    """A GBNF literal matching `value` as compact JSON."""
    return literal(json.dumps(value))


class GrammarBuilder:
    """Collects GBNF rules; identical rule bodies share one name."""

    def __init__(self, limits: GrammarLimits | None = None) -> None:
        self.limits = limits or GrammarLimits()
        self._rules: dict[str, str] = {"ws": '" "?', "char": _CHAR}
        self._names_by_body: dict[str, str] = {}

    def add(self, hint: str, body: str) -> str:
        """Add a rule (or reuse the one with the same body); return its name."""
        if body in self._names_by_body:
            return self._names_by_body[body]
        base = re.sub(r"[^a-zA-Z0-9-]+", "-", hint).strip("-").lower() or "rule"
        name, counter = base, 1
        while name in self._rules or name == "root":
            counter += 1
            name = f"{base}-{counter}"
        self._rules[name] = body
        self._names_by_body[body] = name
        return name

    def render(self, root_body: str) -> str:
        lines = [f"root ::= {root_body}"]
        lines += [f"{name} ::= {body}" for name, body in self._rules.items()]
        return "\n".join(lines) + "\n"

    def string(self, max_chars: int, min_chars: int = 0) -> str:
        max_chars = max(min(max_chars, self.limits.max_string_chars), min_chars, 1)
        return self.add(f"string-{max_chars}", f'"\\"" char{{{min_chars},{max_chars}}} "\\""')

    def value(self, schema: Schema, defs: Schema, hint: str, depth: int = 0) -> str:
        """The name of a rule matching JSON valid for `schema` (within the limits)."""
        schema = self._resolve(schema, defs)
        if depth > self.limits.max_depth:
            return self._scalar()
        if "const" in schema:
            return self.add(f"{hint}-const", json_literal(schema["const"]))
        if "enum" in schema:
            return self.add(f"{hint}-enum", " | ".join(json_literal(v) for v in schema["enum"]))
        union = schema.get("anyOf") or schema.get("oneOf")
        if union:
            members = [self.value(member, defs, hint, depth) for member in union]
            return self.add(f"{hint}-union", " | ".join(dict.fromkeys(members)))
        kind = schema.get("type")
        if isinstance(kind, list):
            members = [self.value({**schema, "type": t}, defs, hint, depth) for t in kind]
            return self.add(f"{hint}-union", " | ".join(dict.fromkeys(members)))
        if kind is None and "properties" in schema:
            kind = "object"
        return self._typed(kind, schema, defs, hint, depth)

    def _typed(self, kind: Any, schema: Schema, defs: Schema, hint: str, depth: int) -> str:
        match kind:
            case "string":
                return self._string(schema)
            case "integer":
                sign = "" if schema.get("minimum", -1) >= 0 else '"-"? '
                return self.add("integer", f'{sign}("0" | [1-9] [0-9]{{0,15}})')
            case "number":
                sign = "" if schema.get("minimum", -1) >= 0 else '"-"? '
                return self.add("number", f'{sign}("0" | [1-9] [0-9]{{0,15}}) ("." [0-9]{{1,6}})?')
            case "boolean":
                return self.add("boolean", '"true" | "false"')
            case "null":
                return self.add("null", '"null"')
            case "array":
                return self._array(schema, defs, hint, depth)
            case "object":
                return self._object(schema, defs, hint, depth)
            case _:
                return self._any(defs, hint, depth)

    def _resolve(self, schema: Schema, defs: Schema) -> Schema:
        for _ in range(32):  # a chain of plain references; cycles go through properties instead
            reference = schema.get("$ref")
            if isinstance(reference, str):
                target = defs.get(reference.rsplit("/", 1)[-1], {})
                schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
                continue
            all_of = schema.get("allOf")
            if isinstance(all_of, list):
                merged = {k: v for k, v in schema.items() if k != "allOf"}
                for member in all_of:
                    member = self._resolve(member, defs)
                    properties = {**merged.get("properties", {}), **member.get("properties", {})}
                    required = [*merged.get("required", []), *member.get("required", [])]
                    merged = {**member, **merged, "properties": properties, "required": required}
                    if not properties:
                        merged.pop("properties")
                schema = merged
                continue
            return schema
        return {}

    def _string(self, schema: Schema) -> str:
        pattern = _FORMATS.get(str(schema.get("format")))
        if pattern is not None:
            return self.add(f"{schema['format']}-string", f'"\\"" {pattern} "\\""')
        maximum = int(schema.get("maxLength", self.limits.max_string_chars))
        return self.string(maximum, min(int(schema.get("minLength", 0)), maximum))

    def _array(self, schema: Schema, defs: Schema, hint: str, depth: int) -> str:
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            items = [
                self.value(item, defs, f"{hint}-{i}", depth + 1) for i, item in enumerate(prefix)
            ]
            return self.add(f"{hint}-tuple", '"[" ws ' + ' "," ws '.join(items) + ' ws "]"')
        item = self.value(schema.get("items", {}), defs, f"{hint}-item", depth + 1)
        least = int(schema.get("minItems", 0))
        most = max(min(int(schema.get("maxItems", self.limits.max_array_items)), 64), least, 1)
        rest = f'( "," ws {item} ){{{max(least - 1, 0)},{most - 1}}}'
        body = f"{item} {rest}" if least else f"( {item} {rest} )?"
        return self.add(f"{hint}-array", f'"[" ws {body} ws "]"')

    def _object(self, schema: Schema, defs: Schema, hint: str, depth: int) -> str:
        properties: Schema = schema.get("properties") or {}
        if not properties:
            extra = schema.get("additionalProperties", True)
            if extra is False:
                return self.add("empty-object", '"{" ws "}"')
            return self._map(extra if isinstance(extra, dict) else {}, defs, hint, depth)
        required = set(schema.get("required", []))
        pairs: list[tuple[str, bool]] = []
        for name, property_schema in properties.items():
            property_rule = self.value(property_schema, defs, f"{hint}-{name}", depth + 1)
            pair = self.add(f"{hint}-{name}-kv", f'{json_literal(name)} ws ":" ws {property_rule}')
            pairs.append((pair, name in required))
        mandatory = [pair for pair, is_required in pairs if is_required]
        optional = [pair for pair, is_required in pairs if not is_required]
        if mandatory:
            body = ' "," ws '.join(mandatory) + "".join(f' ( "," ws {p} )?' for p in optional)
        else:
            starts = [
                " ".join([first, *(f'( "," ws {p} )?' for p in optional[i + 1 :])])
                for i, first in enumerate(optional)
            ]
            body = "( " + " | ".join(starts) + " )?"
        return self.add(f"{hint}-object", f'"{{" ws {body} ws "}}"')

    def _map(self, value_schema: Schema, defs: Schema, hint: str, depth: int) -> str:
        value = self.value(value_schema, defs, f"{hint}-value", depth + 1)
        pair = self.add(f"{hint}-pair", f'{self.string(40, 1)} ws ":" ws {value}')
        most = self.limits.max_array_items - 1
        return self.add(f"{hint}-map", f'"{{" ws ( {pair} ( "," ws {pair} ){{0,{most}}} )? ws "}}"')

    def _scalar(self) -> str:
        parts = [self.string(self.limits.max_string_chars), self._typed("number", {}, {}, "", 0)]
        parts += [self.add("boolean", '"true" | "false"'), self.add("null", '"null"')]
        return self.add("scalar", " | ".join(parts))

    def _any(self, defs: Schema, hint: str, depth: int) -> str:
        if depth >= self.limits.max_depth:
            return self._scalar()
        nested = [
            self._array({"items": {}}, defs, "any", depth),
            self._map({}, defs, "any", depth),
        ]
        return self.add(f"any-{depth}", " | ".join([self._scalar(), *nested]))


def schema_grammar(schema: Schema, limits: GrammarLimits | None = None) -> str:
    """A complete GBNF grammar for one JSON value valid for `schema`."""
    builder = GrammarBuilder(limits)
    return builder.render(builder.value(schema, definitions_of(schema), "value"))


def definitions_of(schema: Schema) -> Schema:
    return {**schema.get("definitions", {}), **schema.get("$defs", {})}
