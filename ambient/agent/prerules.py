"""Deterministic pre-rules: decide an item from its headers, before and instead of a model call.

The user's ``[[rules]]`` come first, in order, first match wins (``ambient.core.rule_settings``
says how they match); then the built-ins, each of which ``[prerules]`` turns off or changes:
``bounce`` (From ``MAILER-DAEMON@``/``postmaster@``, or a ``multipart/report`` delivery
report) notifies; ``auto_reply`` (``Auto-Submitted: auto-replied``, ``X-Autoreply``,
``X-Autorespond``; an ``auto-generated`` notice is not a reply and goes to the model) and
``bulk`` (``List-Unsubscribe``, ``List-Id``, ``Precedence: bulk|list|junk``) ignore. The
built-ins are defaults that know nothing of the user: an automatic message from someone in the
user's contacts, or list mail the memory says to act on, needs a user rule (``decision =
"act"`` sends it to the model) or the built-in turned off.

A rule that fires decides the item without the model (a :class:`FiredRule` that
:attr:`~FiredRule.decides`): a triage whose reason names the rule, or the rule's drafted action
for approval. ``decision = "act"`` without an action only sends the item to the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ambient.agent.deps import AgentItem
from ambient.agent.tools import action_args
from ambient.agent.triage import Triage
from ambient.approvals.drafts import DraftedAction
from ambient.approvals.kinds import KINDS
from ambient.approvals.kinds.base import describe_errors
from ambient.core.config import Settings
from ambient.core.errors import ConfigError, DecisionError
from ambient.core.lineage import version_hash
from ambient.core.message import UnparseableMessage, header_fields
from ambient.core.rule_settings import (
    PATTERN_FLAGS,
    PreRuleSettings,
    RuleActionSettings,
    RuleDecision,
    RulePriority,
    RuleSettings,
)

EVIDENCE_CHARS = 80  # of a header value quoted in a reason
DRAFT_CALL_PREFIX = "pre-rule:"  # a rule's draft's tool_call_id: pre-rule:<name>


# ---- what a rule reads of an item -------------------------------------------------------------
@dataclass(frozen=True)
class RuleInput:
    """The parts of an item the rules match on (header names lower-case)."""

    sender: str  # the From header as it came
    sender_address: str
    recipients: tuple[str, ...]  # To and Cc: the headers as they came and the bare addresses
    subject: str
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, item: AgentItem, raw: bytes) -> RuleInput:
        message = item.message
        headers: dict[str, tuple[str, ...]] = {}
        if item.kind == "email":
            try:
                headers = header_fields(raw)
            except UnparseableMessage:
                headers = {}
        written = (*headers.get("to", ()), *headers.get("cc", ()))
        return cls(
            sender=message.sender,
            sender_address=message.sender_address,
            recipients=(*written, *message.to, *message.cc),
            subject=message.subject,
            headers=headers,
        )

    def first(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


def _quoted(name: str, value: str) -> str:
    value = value if len(value) <= EVIDENCE_CHARS else value[: EVIDENCE_CHARS - 1] + "…"
    return f"{name}: {value}" if value else name


# ---- what fired ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FiredRule:
    """The rule that matched an item, and what it says."""

    name: str
    built_in: bool
    decision: RuleDecision
    priority: RulePriority | None  # None: the default (low for ignore, normal otherwise)
    why: str  # what matched, e.g. "bulk or list mail (List-Id: …)"
    action: RuleActionSettings | None = None

    @property
    def decides(self) -> bool:
        """Whether the rule decides without the model (all but "act" without an action)."""
        return self.decision != "act" or self.action is not None

    @property
    def reason(self) -> str:
        return f"pre-rule {self.name}: {self.why}"

    def triage(self, subject: str, note: str = "") -> Triage:
        """The item's triage, as the rule decides it (`note`: what became of its action)."""
        priority = self.priority or ("low" if self.decision == "ignore" else "normal")
        decision = "notify" if note else self.decision
        reason = f"{self.reason}; no model was called" + (f"; {note}" if note else "")
        return Triage(
            decision=decision, reason=reason, priority=priority, summary=subject or "(no subject)"
        )

    def draft(self, item: AgentItem) -> DraftedAction:
        """The rule's action for this item, as the agent's drafts are: the kind's draft schema,
        defaults from the item (a reply goes to the sender). DecisionError when the arguments
        do not make an action for this item."""
        assert self.action is not None
        rationale = self.reason
        kind = KINDS.of(self.action.kind)
        given = _with_rationale(kind.draft or kind.arguments, self.action.args, rationale)
        try:
            args, _rationale = action_args(self.action.kind, given, item)
        except ValidationError as error:
            raise DecisionError(describe_errors(self.action.kind, error)) from None
        call_id = f"{DRAFT_CALL_PREFIX}{self.name}"
        return DraftedAction(self.action.kind, call_id, args, rationale)

    def as_json(self) -> dict[str, Any]:
        """Stable keys, for the trace and `ambient triage --json`."""
        return {
            "name": self.name,
            "built_in": self.built_in,
            "decision": self.decision,
            "priority": self.priority,
            "matched": self.why,
            "action": self.action.kind if self.action is not None else None,
            "decides": self.decides,
        }


def _with_rationale(schema: type[Any], args: dict[str, Any], rationale: str) -> dict[str, Any]:
    """A rule's arguments for the kind's schema, with a rationale where the schema has one."""
    fields = getattr(schema, "model_fields", {})
    return {**args, "rationale": rationale} if "rationale" in fields else dict(args)


# ---- the built-ins ---------------------------------------------------------------------------
DELIVERY_REPORT = re.compile(
    r"^\s*multipart/report\b.*\breport-type\s*=\s*\"?delivery-status", re.IGNORECASE
)
DAEMON_SENDERS = ("mailer-daemon", "postmaster")
BULK_PRECEDENCE = ("bulk", "list", "junk")


def _bounce(message: RuleInput) -> str | None:
    local = message.sender_address.partition("@")[0]
    if local in DAEMON_SENDERS:
        return f"a delivery report (From {message.sender_address})"
    for value in message.headers.get("content-type", ()):
        if DELIVERY_REPORT.search(value):
            return "a delivery report (Content-Type: multipart/report; delivery-status)"
    return None


def _auto_reply(message: RuleInput) -> str | None:
    for value in message.headers.get("auto-submitted", ()):
        # RFC 3834: "auto-replied" answers a message (out of office, vacation); an
        # "auto-generated" notice (a sign-in alert, a report) may matter and goes to the model
        if value.partition(";")[0].strip().lower() == "auto-replied":
            return f"an automatic reply ({_quoted('Auto-Submitted', value)})"
    for name in ("X-Autoreply", "X-Autorespond"):
        found = message.first(name)
        if found is not None:
            return f"an automatic reply ({_quoted(name, found)})"
    return None


def _bulk(message: RuleInput) -> str | None:
    for name in ("List-Id", "List-Unsubscribe"):
        value = message.first(name)
        if value is not None:
            shown = _quoted(name, value) if name == "List-Id" else name
            return f"bulk or list mail ({shown})"
    for value in message.headers.get("precedence", ()):
        if value.strip().lower() in BULK_PRECEDENCE:
            return f"bulk or list mail (Precedence: {value.strip().lower()})"
    return None


BUILT_INS: dict[str, Callable[[RuleInput], str | None]] = {
    "bounce": _bounce,  # first: a bounce often says Auto-Submitted too
    "auto_reply": _auto_reply,
    "bulk": _bulk,
}


# ---- the user's rules ------------------------------------------------------------------------
@dataclass(frozen=True)
class UserRule:
    settings: RuleSettings
    conditions: tuple[tuple[str, re.Pattern[str]], ...]  # (where, pattern), all must match

    @classmethod
    def compiled(cls, settings: RuleSettings) -> UserRule:
        conditions = tuple(
            (where, re.compile(pattern, PATTERN_FLAGS)) for where, pattern in settings.patterns
        )
        return cls(settings, conditions)

    def matches(self, message: RuleInput) -> str | None:
        """What matched ("from, subject"), or None when a condition does not."""
        for where, pattern in self.conditions:
            if not any(pattern.search(text) for text in _texts(message, where)):
                return None
        return "matched " + ", ".join(where for where, _pattern in self.conditions)


def _texts(message: RuleInput, where: str) -> tuple[str, ...]:
    if where == "from":
        return (message.sender_address, message.sender)
    if where == "to":
        return message.recipients
    if where == "subject":
        return (message.subject,)
    return message.headers.get(where.removeprefix("header.").lower(), ())  # absent: no match


# ---- the rules together ----------------------------------------------------------------------
class PreRules:
    """The user's rules, then the built-ins that are on (see the module's doc)."""

    def __init__(
        self, rules: Sequence[RuleSettings] = (), built_ins: PreRuleSettings | None = None
    ) -> None:
        self.rules = [UserRule.compiled(rule) for rule in rules]
        self.built_ins = built_ins or PreRuleSettings()
        self.version = version_hash(
            {
                "rules": [rule.model_dump(mode="json") for rule in rules],
                "built_ins": self.built_ins.model_dump(mode="json"),
            }
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> PreRules:
        """The configured rules; ConfigError naming the rule whose action's kind is unknown or
        whose arguments the kind refuses."""
        check_rule_actions(settings)
        return cls(settings.rules, settings.prerules)

    def first_match(self, item: AgentItem, raw: bytes) -> FiredRule | None:
        """The first rule that matches the item, or None (the model decides)."""
        message = RuleInput.of(item, raw)
        for rule in self.rules:
            matched = rule.matches(message)
            if matched is not None:
                config = rule.settings
                return FiredRule(
                    config.name, False, config.decision, config.priority, matched, config.action
                )
        for name, check in BUILT_INS.items():
            decision = getattr(self.built_ins, name)
            if decision == "off":
                continue
            matched = check(message)
            if matched is not None:
                return FiredRule(name, True, decision, None, matched)
        return None


def check_rule_actions(settings: Settings) -> None:
    """Each ``[[rules]]`` action's kind is registered and its arguments are that kind's (the
    item's defaults apart): a ConfigError naming the file and the rule otherwise."""
    for index, rule in enumerate(settings.rules):
        if rule.action is None:
            continue
        where = f"{settings.config_file}: rules[{index}]: rule {rule.name!r}: action"
        kind = KINDS.get(rule.action.kind)
        if kind is None:
            known = ", ".join(KINDS.names())
            raise ConfigError(f"{where}: unknown kind {rule.action.kind!r} (known: {known})")
        schema = kind.draft or kind.arguments
        try:
            schema.model_validate(_with_rationale(schema, rule.action.args, "a rule"))
        except ValidationError as error:
            raise ConfigError(f"{where}: {describe_errors(kind.name, error)}") from None
