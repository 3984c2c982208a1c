"""Settings entries that name themselves in every error: `rule 'x': …`, `mcp server 'x': …`.

A ``[[rules]]`` or ``[[mcp]]`` entry is checked field by field and then as a whole; whatever
is wrong becomes one line that starts with the entry's name, so the ConfigError points at it
(``ambient.toml: rules[1]: rule 'x': from: not a valid regular expression``). Values are never
echoed: an environment value may be a secret.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from pydantic import ModelWrapValidatorHandler, ValidationError
from pydantic_core import PydanticCustomError


class CheckedEntry(Protocol):
    def _problem(self) -> str | None:
        """What is wrong with the entry as a whole, or None."""
        ...


EntryT = TypeVar("EntryT", bound=CheckedEntry)


def entry_problem(label: str, name: object, message: str) -> PydanticCustomError:
    """`<label> '<name>': <message>` as a validation error of type `label` (spaces as `_`)."""
    values = {"name": repr(name), "message": message}
    return PydanticCustomError(label.replace(" ", "_"), f"{label} {{name}}: {{message}}", values)


def field_errors(error: ValidationError, whole: str = "entry") -> str:
    """`field: what is wrong; …` (`whole`: a problem of no one field) — never the value."""
    parts = []
    for detail in error.errors():
        where = ".".join(str(part) for part in detail["loc"]) or whole
        message = "unknown setting" if detail["type"] == "extra_forbidden" else detail["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def checked_entry(label: str, data: Any, handler: ModelWrapValidatorHandler[EntryT]) -> EntryT:
    """The entry validated (a model's ``mode="wrap"`` validator), each problem naming it."""
    name = data.get("name", "(unnamed)") if isinstance(data, dict) else "(unnamed)"
    try:
        entry = handler(data)
    except ValidationError as error:
        raise entry_problem(label, name, field_errors(error, label.split()[-1])) from None
    problem = entry._problem()
    if problem:
        raise entry_problem(label, name, problem)
    return entry
