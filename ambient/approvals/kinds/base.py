"""What an action kind is: everything ambient knows about one kind of action, in one object.

A kind module (``reply_email.py``, ``write_note.py``, …) subclasses :class:`Kind` once and
holds its arguments (what the human approves and the executor runs), its draft schema and tool
description (what the model sees), how it reads in the TUI and the CLI, its text form for an
edit, its policy checks and its executor. The agent, the policy gate, the outbox and the edges
only ever ask a kind; none of them names one. A row whose kind is not registered (any more)
still shows, as its raw arguments, and is blocked: :class:`UnregisteredKind`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Engine

from ambient.approvals.executors import Executor
from ambient.approvals.kinds import text_form
from ambient.approvals.provenance import (
    MEMORY_PASSAGE_CHARS,
    Provenance,
    excerpt,
    shared_passages,
)
from ambient.core.calendar import CalendarInvite
from ambient.core.clock import Clock
from ambient.core.config import PolicySettings, Secrets, Settings
from ambient.core.errors import DecisionError


class DraftToFix(Exception):
    """A draft the model can fix, and how: the agent turns it into Pydantic AI's ModelRetry
    (kinds stay free of the agent's library, so the TUI and the CLI never load it)."""


class ActionKind(StrEnum):
    """The kinds ambient comes with (a kind registered at run time has a name of its own)."""

    REPLY_EMAIL = "reply_email"
    SEND_EMAIL = "send_email"
    WRITE_NOTE = "write_note"
    CALL_WEBHOOK = "call_webhook"
    MEMORY_UPDATE = "memory_update"
    MCP_CALL = "mcp_call"
    ASK_USER = "ask_user"
    MOVE_MESSAGE = "move_message"
    FLAG_MESSAGE = "flag_message"
    TAG_MESSAGE = "tag_message"
    MARK_READ = "mark_read"
    CALENDAR_REPLY = "calendar_reply"


RuleAction = Literal["block", "warn"]

RATIONALE_HELP = "Why this action, in one sentence; the user reads it before approving."
# What `private_memory_in_draft` is about: the memory in the prompt, the memory tools' results
# and the MCP servers' read-only tools' results (files, a knowledge base) a run saw.
PRIVATE_TEXT = "private text the agent read (memory or a tool result)"


class ActionArguments(BaseModel):
    """A kind's arguments. Email content is untrusted, so they are strict: no extra fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


ArgsT = TypeVar("ArgsT", bound=ActionArguments)


def describe_errors(kind: str, error: ValidationError) -> str:
    """`kind: field: what is wrong; …` — one line naming every field that failed."""
    parts = []
    for detail in error.errors():
        where = ".".join(str(part) for part in detail["loc"]) or "arguments"
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message}")
    return f"{kind}: " + "; ".join(parts)


# ---- what a kind is given ----------------------------------------------------------------
class DraftItem(Protocol):
    """What a kind's draft checks and defaults know of the item the agent works on."""

    @property
    def reply_address(self) -> str:
        """Where a reply goes by default (Reply-To, else From); may be empty."""
        ...

    @property
    def reply_subject(self) -> str:
        """`Re: <the item's subject>`."""
        ...

    @property
    def calendar(self) -> CalendarInvite | None:
        """The calendar invite the message carries, if any (what calendar_reply answers)."""
        ...


def string_values(value: Any) -> Iterator[str]:
    """Every string in a JSON value (what a payload or a tool's arguments send out)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from string_values(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from string_values(inner)


@dataclass(frozen=True)
class Finding:
    rule: str
    action: RuleAction
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@dataclass
class PolicyCheck:
    """What a kind's policy checks see of one action's circumstances, and where findings go.

    `human_recipients`: addresses the human typed in while editing; `provenance`: where the
    draft came from (None: unknown). `rules` says what each rule does (block or warn).
    `settings`: the whole configuration, for a kind whose checks read its own section
    (mcp_call: the ``[[mcp]]`` servers); None when the gate was not given it.
    """

    policy: PolicySettings
    rules: Mapping[str, RuleAction]
    notes_dir: Path
    own_addresses: frozenset[str]
    thread_addresses: frozenset[str]
    human_recipients: frozenset[str] = frozenset()
    provenance: Provenance | None = None
    settings: Settings | None = None
    findings: list[Finding] = field(default_factory=list)

    def add(self, rule: str, message: str) -> None:
        self.findings.append(Finding(rule, self.rules[rule], message))

    def copied_private_text(self, texts: Iterable[str]) -> str | None:
        """The start of the first passage of `texts` (quoted) that repeats, word for word,
        private text the run read (:data:`PRIVATE_TEXT`), or None: what
        ``private_memory_in_draft`` looks for."""
        passages = self.provenance.memory_passages if self.provenance is not None else ()
        copied = shared_passages(texts, passages, MEMORY_PASSAGE_CHARS) if passages else []
        return excerpt(copied[0]) if copied else None

    def size(self, size: int, what: str) -> None:
        """``body_too_large`` when a text is over ``policy.max_body_chars``."""
        limit = self.policy.max_body_chars
        if size > limit:
            self.add(
                "body_too_large", f"{what} has {size} characters (policy.max_body_chars = {limit})"
            )


@dataclass
class ExecutorParts:
    """What an executor is built from; kinds that share a builder share one executor."""

    settings: Settings
    secrets: Secrets
    engine: Engine
    clock: Clock
    _built: dict[Callable[[ExecutorParts], Executor], Executor] = field(default_factory=dict)

    def shared(self, build: Callable[[ExecutorParts], Executor]) -> Executor:
        """One executor per `build` for every kind that uses it (both email kinds: one SMTP)."""
        if build not in self._built:
            self._built[build] = build(self)
        return self._built[build]


# ---- the kind ----------------------------------------------------------------------------
class Kind(ABC, Generic[ArgsT]):
    """One kind of action. Subclass it in the kind's module and name an instance ``KIND`` there
    (the registry finds it), or register one at run time."""

    name: str  # the tool's name and the approval row's kind (an ActionKind for built-in kinds)
    label: str  # one word the TUI lists it under
    arguments: type[ArgsT]  # what the human approves and the executor runs
    # The model-facing schema (the arguments narrowed where a model goes wrong, plus a
    # `rationale`); None: the agent does not draft this kind (it comes from elsewhere).
    draft: type[ArgsT] | None = None
    description: str = ""  # the tool's description
    prompt_hint: str = ""  # what the instructions say of the tool, in a few words
    order: ClassVar[int] = 100  # its place where kinds are listed (tools, prompt, TUI filter)
    body_field: str | None = None  # the long argument, below the headers in its text form
    body_is_diff: ClassVar[bool] = False  # the TUI colours it as a diff
    body_ends_with_newline: ClassVar[bool] = True  # an edited text body keeps a final newline
    rules: ClassVar[Mapping[str, RuleAction]] = {}  # the policy rules its checks add, by default
    sends_email: ClassVar[bool] = False  # runs only with an SMTP account configured
    holds_item: ClassVar[bool] = True  # its approvals keep their item open until final
    thread_bound: ClassVar[bool] = True  # a newer message in the thread makes it stale
    # a question to the user (ask_user): answered, never approved, edited or run; its tool is
    # deferred as a Pydantic AI question and the answer is the call's result on the resumed run
    asks: ClassVar[bool] = False
    # Whether it may earn autonomy while `autonomy.kinds` is empty: only for a kind whose scope
    # bounds what a draft can do (an email to one contact, a note into one folder); any other
    # earns it only when `autonomy.kinds` names it (see ambient.approvals.autonomy).
    autonomy_by_default: ClassVar[bool] = False

    # ---- arguments -----------------------------------------------------------------------
    def parse(self, args: dict[str, Any]) -> ArgsT:
        """The typed arguments; DecisionError naming the field and the problem."""
        try:
            return self.arguments.model_validate(args)
        except ValidationError as error:
            raise DecisionError(describe_errors(self.name, error)) from None

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        """The arguments validated and normalized (e.g. bare addresses), as JSON values."""
        return self.parse(args).model_dump(mode="json")

    # ---- the agent's side ----------------------------------------------------------------
    def check_draft(self, draft: ArgsT, item: DraftItem, settings: Settings) -> None:
        """Raise DraftToFix for a draft the model can fix (the agent asks it again); nothing by
        default."""

    def from_draft(self, draft: ArgsT, item: DraftItem) -> dict[str, Any]:
        """A draft's arguments (its rationale apart), defaults filled in from the item."""
        return draft.model_dump(exclude={"rationale"})

    @property
    def drafted_by_agent(self) -> bool:
        """Whether the agent drafts it, so that feedback resumes the agent's run: a kind with
        a draft schema (its own tool), or one drafted through tools from outside (mcp_call)."""
        return self.draft is not None

    def call_args(self, args: dict[str, Any], rationale: str) -> dict[str, Any]:
        """The agent's tool call that these (edited) arguments stand for on a resumed run."""
        return {**args, "rationale": rationale}

    @abstractmethod
    def approved(self, args: dict[str, Any]) -> str:
        """What an approved call says on a resumed run: the facts, in a few words."""

    def answer(self, args: dict[str, Any], text: str | None, choice: int | None) -> str:
        """A question's answer as the human gave it (`choice`: a choice's number, from 1);
        DecisionError when it is none, or when this kind asks nothing."""
        raise DecisionError(f"{self.name} is not a question: approve, edit or reject it")

    def answered(self, args: dict[str, Any], answer: str) -> str:
        """What the agent's question call returns on the resumed run: the human's answer."""
        raise DecisionError(f"{self.name} is not a question")

    def choices(self, args: dict[str, Any]) -> list[str]:
        """A question's choices, in the order their numbers count from 1 (none by default)."""
        return []

    # ---- how it reads --------------------------------------------------------------------
    @abstractmethod
    def concerns(self, args: dict[str, Any]) -> str:
        """Who or what it concerns, in a few words (recipients, a path, a host)."""

    @abstractmethod
    def summary(self, args: dict[str, Any], fallback: str = "") -> str:
        """One line saying what it does."""

    def headline(self, args: dict[str, Any]) -> str:
        """The CLI's one line: what it does to whom."""
        return f"{self.label} {self.concerns(args)}: {self.summary(args)}"

    def recipients(self, args: dict[str, Any]) -> set[str]:
        """The email addresses it writes to, lower-case; none for a kind that does not."""
        return set()

    def outgoing_texts(self, args: dict[str, Any]) -> list[str]:
        """The texts it sends to someone else (what the provenance rules compare)."""
        return []

    def autonomy_scope(self, args: dict[str, Any]) -> str | None:
        """Within what an action of this kind may earn autonomy (one contact, one folder, one
        endpoint): its action class is ``<kind>:<scope>``. None, the default: never (the
        action is not narrow enough to trust by rule; see ``ambient.approvals.autonomy``)."""
        return None

    def autonomy_refusal(self, scope: str, settings: Settings) -> str | None:
        """Why a class of this kind within `scope` may not be approved by rule under these
        settings, beyond ``autonomy.kinds`` (e.g. a tool its server does not list as
        autonomous); None, the default: nothing more to ask."""
        return None

    def shown_headers(self, args: dict[str, Any]) -> list[tuple[str, str]]:
        """`(Header, value)` for every argument but the body that has a value, in order."""
        return text_form.shown_headers(self.arguments, self.body_field, args)

    def shown_body(self, args: dict[str, Any]) -> str | None:
        """The body as shown (data as indented JSON), or None when the kind has none."""
        return text_form.shown_body(self.body_field, args)

    # ---- the text a human edits ----------------------------------------------------------
    def to_text(self, args: dict[str, Any], *, comment: str = "") -> str:
        """`Name: value` headers, a blank line, the body; `comment` as leading `#` lines."""
        return text_form.to_text(self.arguments, self.body_field, args, comment=comment)

    def from_text(self, text: str) -> dict[str, Any]:
        """The edited text as validated arguments; DecisionError saying where and why."""
        args = text_form.from_text(
            self.name,
            self.arguments,
            self.body_field,
            text,
            final_newline=self.body_ends_with_newline,
        )
        return self.validate(args)

    @property
    def list_fields(self) -> frozenset[str]:
        """The arguments that are lists (`--set to=a@x, b@y` splits them at commas)."""
        return frozenset(
            name for name in self.arguments.model_fields if text_form.is_list(self.arguments, name)
        )

    # ---- policy and execution ------------------------------------------------------------
    def check(self, action: ArgsT, check: PolicyCheck) -> None:
        """Add the policy gate's findings on valid arguments to `check`; none by default."""

    def build_executor(self, parts: ExecutorParts) -> Executor | None:
        """The executor that runs it exactly once; None: supplied from above (memory)."""
        return None


class UnregisteredKind(Kind[ActionArguments]):
    """A row of a kind no module registers: shown as its raw arguments, never valid."""

    arguments = ActionArguments

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.label = name
        self.known = known

    def parse(self, args: dict[str, Any]) -> ActionArguments:
        known = ", ".join(sorted(self.known))
        raise DecisionError(f"unknown action kind {self.name!r} (known: {known})")

    def approved(self, args: dict[str, Any]) -> str:
        return self.name

    def concerns(self, args: dict[str, Any]) -> str:
        return ""

    def summary(self, args: dict[str, Any], fallback: str = "") -> str:
        return fallback

    def headline(self, args: dict[str, Any]) -> str:
        return text_form.dumps(args)[:80]

    def to_text(self, args: dict[str, Any], *, comment: str = "") -> str:
        return text_form.json_text(args, comment=comment)

    def from_text(self, text: str) -> dict[str, Any]:
        return text_form.json_args(self.name, text)
