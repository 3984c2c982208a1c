"""The evaluation dataset's schema: one JSON object per line, what `eval export` writes.

Version :data:`SCHEMA_VERSION` (``metadata.schema_version`` in each row; a row without it is
read as this version). A row::

    {"id": "…",                       # stable: the Langfuse dataset item's id
     "input": {                       # the message, as the agent reads it
       "source": "inbox", "key": "cur/1", "kind": "email",
       "subject": "…", "sender": "Dana <dana@example.com>", "to": […], "cc": […],
       "reply_to": […], "date": "2026-11-24T09:00:00+00:00", "message_id": "<…>",
       "in_reply_to": "<…>" | null, "references": […],
       "attachments": [{"filename": "…", "content_type": "…", "size": 123}],
       "text": "the whole plain-text body",
       "raw": "an RFC 822 message" | absent},   # when given, it is parsed instead of the rest
     "expected_output": {
       "triage": {"decision": "ignore" | "notify" | "act" | null, "priority": "…" | null},
       "actions": [{"kind": "reply_email", "decision": "approved" | "edited",
                    "arguments": {…},            # what ran: the human's edit if any
                    "drafted_arguments": {…}}],  # only on an edit: the agent's draft
       "declined": [{"kind": "…", "decision": "rejected" | "ignored" | "feedback",
                     "arguments": {…}, "feedback": "…"}]},
     "metadata": {"schema_version": 1, "item_id": 7, "received_at": "…", …},
     "source_trace_id": "…" | null}

Rows written by hand need only ``id`` and ``input`` (with ``raw``, or headers and ``text``);
unknown keys are errors (a misspelt ``from`` would silently make an empty sender), except in
``metadata``, which is free-form. Read errors name the file, the line and the field.
"""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ambient.agent.deps import AgentItem
from ambient.approvals.kinds.base import describe_errors
from ambient.core.errors import InputError, NotFoundError
from ambient.core.message import Attachment, ParsedMessage, UnparseableMessage, content_digest
from ambient.core.message import parse_message as parse_email

SCHEMA_VERSION = 1
ACCEPTED_DECISIONS = ("approved", "edited")
DECLINED_DECISIONS = ("rejected", "ignored", "feedback", "answered")
TriageDecision = Literal["ignore", "notify", "act"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetAttachment(_Strict):
    filename: str
    content_type: str = "application/octet-stream"
    size: int = 0


class DatasetMessage(_Strict):
    """The message: headers and text as the agent reads them, or the raw RFC 822 text."""

    source: str = "dataset"
    key: str = ""
    kind: str = "email"
    subject: str = ""
    sender: str = ""
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    reply_to: list[str] = Field(default_factory=list)
    date: datetime | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    attachments: list[DatasetAttachment] = Field(default_factory=list)
    text: str = ""
    raw: str | None = None

    @field_validator("attachments", mode="before")
    @classmethod
    def _names_allowed(cls, value: Any) -> Any:
        """A bare file name stands for an attachment of unknown type and size."""
        if isinstance(value, list):
            return [{"filename": entry} if isinstance(entry, str) else entry for entry in value]
        return value


class ExpectedTriage(_Strict):
    decision: TriageDecision | None = None
    priority: str | None = None


class ExpectedAction(_Strict):
    kind: str
    decision: Literal["approved", "edited", "rejected", "ignored", "feedback", "answered"]
    arguments: dict[str, Any] = Field(default_factory=dict)
    drafted_arguments: dict[str, Any] | None = None
    feedback: str | None = None
    automatic: bool = False  # approved by an earned-autonomy rule, not by the human


class ExpectedOutput(_Strict):
    triage: ExpectedTriage = Field(default_factory=ExpectedTriage)
    actions: list[ExpectedAction] = Field(default_factory=list)
    declined: list[ExpectedAction] = Field(default_factory=list)

    @model_validator(mode="after")
    def _decisions_in_place(self) -> ExpectedOutput:
        for name, allowed in (("actions", ACCEPTED_DECISIONS), ("declined", DECLINED_DECISIONS)):
            for index, action in enumerate(getattr(self, name)):
                if action.decision not in allowed:
                    raise ValueError(
                        f"{name}[{index}].decision: {action.decision!r} belongs in "
                        f"{'declined' if name == 'actions' else 'actions'} "
                        f"(expected {' or '.join(allowed)})"
                    )
        return self


class DatasetRow(_Strict):
    id: str = Field(min_length=1)
    input: DatasetMessage
    expected_output: ExpectedOutput = Field(default_factory=ExpectedOutput)
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_trace_id: str | None = None

    @property
    def item_id(self) -> int | None:
        value = self.metadata.get("item_id")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def received_at(self) -> datetime | None:
        """When the item arrived (``metadata.received_at``; else the message's date)."""
        value = self.metadata.get("received_at")
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                return None
        return self.input.date

    def to_json(self) -> dict[str, Any]:
        """The row as `eval export` writes it (optional fields left out when empty)."""
        values = self.model_dump(mode="json", exclude={"metadata"}, exclude_none=True)
        values.setdefault("source_trace_id", None)
        return {**values, "metadata": dict(self.metadata)}


# ---- the message, both ways -----------------------------------------------------------------
def message_input(source: str, key: str, kind: str, message: ParsedMessage) -> dict[str, Any]:
    """The ``input`` of a row for a message as the agent parsed it (JSON values)."""
    return {
        "source": source,
        "key": key,
        "kind": kind,
        "subject": message.subject,
        "sender": message.sender,
        "to": list(message.to),
        "cc": list(message.cc),
        "reply_to": list(message.reply_to),
        "date": message.date.isoformat() if message.date else None,
        "message_id": message.message_id,
        "in_reply_to": message.in_reply_to,
        "references": list(message.references),
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in message.attachments
        ],
        "text": message.text,
    }


def _address_of(sender: str) -> str:
    return parseaddr(sender)[1].strip().lower()


def replay_item(row: DatasetRow, item_id: int, trace_id: str) -> AgentItem:
    """The item the agent replays: parsed from ``raw``, or rebuilt from the headers and text.
    Raises InputError for a ``raw`` that is not an email."""
    given = row.input
    if given.raw is not None:
        raw = given.raw.encode("utf-8")
        try:
            return AgentItem(item_id, trace_id, given.kind, parse_email(raw), content_digest(raw))
        except UnparseableMessage as error:
            raise InputError(f"row {row.id!r}: input.raw: {error}") from None
    message = ParsedMessage(
        subject=given.subject,
        sender=given.sender,
        sender_address=_address_of(given.sender),
        to=list(given.to),
        cc=list(given.cc),
        reply_to=list(given.reply_to),
        date=given.date,
        message_id=given.message_id,
        in_reply_to=given.in_reply_to,
        references=list(given.references),
        text=given.text,
        attachments=[Attachment(a.filename, a.content_type, a.size) for a in given.attachments],
    )
    canonical = json.dumps(given.model_dump(mode="json"), sort_keys=True).encode("utf-8")
    return AgentItem(item_id, trace_id, given.kind, message, content_digest(canonical))


# ---- files ------------------------------------------------------------------------------------
def parse_row(value: Any, where: str) -> DatasetRow:
    """One row; InputError naming `where` (file:line), the field and the problem."""
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(value).__name__}")
    try:
        row = DatasetRow.model_validate(value)
    except ValidationError as error:
        raise InputError(describe_errors(where, error)) from None
    version = row.metadata.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise InputError(
            f"{where}: metadata.schema_version {version!r}: this ambient reads version "
            f"{SCHEMA_VERSION} (written by a newer ambient?)"
        )
    return row


def read_dataset(path: Path) -> list[DatasetRow]:
    """Every row of a JSONL dataset, in file order (blank lines skipped); ids must be unique."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot be read: {error}") from error
    rows: list[DatasetRow] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            value = json.loads(line)
        except ValueError as error:
            raise InputError(f"{where}: not JSON: {error}") from None
        row = parse_row(value, where)
        if row.id in seen:
            raise InputError(f"{where}: id {row.id!r} is already on line {seen[row.id]}")
        seen[row.id] = number
        rows.append(row)
    return rows


def write_dataset(rows: list[dict[str, Any]], path: Path) -> int:
    """Rows (JSON objects in this schema) to a JSONL file, atomically; how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    temporary.replace(path)
    return len(rows)


def stored_input(
    source: str, key: str, kind: str, raw: bytes | None, metadata_json: str = "{}"
) -> dict[str, Any]:
    """The ``input`` of a ledger item from its stored bytes, as the agent reads them (a non-email
    item through its metadata); only where it came from when the bytes are gone or not mail."""
    where: dict[str, Any] = {"source": source, "key": key, "kind": kind}
    if raw is None:
        return where
    metadata = json.loads(metadata_json or "{}")
    try:
        item = AgentItem.from_raw(
            0, "", raw, kind=kind, metadata=metadata if isinstance(metadata, dict) else {}
        )
    except UnparseableMessage:
        return where
    return message_input(source, key, kind, item.message)
