"""The argument models of every action kind.

The same models are the agent's tool parameters, the schema a human's edit is validated
against, and what the executors run. Email content is untrusted, so the models are strict:
no extra fields (no sneaked-in ``bcc``), bare addresses only, no line breaks in a subject.
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ambient.core.errors import DecisionError

_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def normalize_address(value: str) -> str:
    """A bare address from "addr" or "Name <addr>"; raises ValueError for anything else."""
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("an address cannot contain line breaks")
    _name, address = parseaddr(value.strip())
    if not _ADDRESS.match(address):
        raise ValueError(f"not an email address: {value!r}")
    return address


def address_domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


class ActionArguments(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class EmailAction(ActionArguments):
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    cc: list[str] = Field(default_factory=list, description="Copy addresses.")
    subject: str = Field(max_length=998, description="The subject line.")
    body: str = Field(description="The plain-text body.")
    attachments: list[str] = Field(
        default_factory=list,
        description="Paths of notes (relative to the notes folder) to attach; usually empty.",
    )

    @field_validator("to", "cc")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        return [normalize_address(value) for value in values]

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("a subject is one line")
        return value

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc]


class ReplyEmail(EmailAction):
    """A reply in the item's thread (In-Reply-To/References come from the item, not from here)."""


class SendEmail(EmailAction):
    """A new email, outside the item's thread."""


class WriteNote(ActionArguments):
    path: str = Field(
        min_length=1, max_length=500, description="Relative path inside the notes folder."
    )
    content: str = Field(description="The note's full text (markdown).")


class CallWebhook(ActionArguments):
    url: str = Field(min_length=1, max_length=2000, description="A URL from the allow-list.")
    payload: dict[str, Any] = Field(description="The JSON object to POST.")


class MemoryUpdate(ActionArguments):
    file: str = Field(min_length=1, max_length=500, description="The memory file, relative.")
    diff: str = Field(description="A unified diff against that file.")
    base_sha256: str = Field(min_length=64, max_length=64, description="SHA-256 of the base.")
    reason: str = Field(max_length=2000, description="Why this change.")


ACTION_MODELS: dict[str, type[BaseModel]] = {
    "reply_email": ReplyEmail,
    "send_email": SendEmail,
    "write_note": WriteNote,
    "call_webhook": CallWebhook,
    "memory_update": MemoryUpdate,
}

EMAIL_KINDS = frozenset({"reply_email", "send_email"})


def describe_errors(kind: str, error: ValidationError) -> str:
    parts = []
    for detail in error.errors():
        where = ".".join(str(part) for part in detail["loc"]) or "arguments"
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message}")
    return f"{kind}: " + "; ".join(parts)


def parse_action(kind: str, args: dict[str, Any]) -> BaseModel:
    """The typed arguments; raises DecisionError naming the field and the problem."""
    model = ACTION_MODELS.get(kind)
    if model is None:
        known = ", ".join(sorted(ACTION_MODELS))
        raise DecisionError(f"unknown action kind {kind!r} (known: {known})")
    try:
        return model.model_validate(args)
    except ValidationError as error:
        raise DecisionError(describe_errors(kind, error)) from None


def validate_action(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments validated and normalized (bare addresses), as plain JSON values."""
    return parse_action(kind, args).model_dump(mode="json")
