"""`[[rules]]` and `[prerules]` in ambient.toml: the deterministic pre-rules' settings.

The user's rules are checked in order, first match wins, before the built-in rules (bounces,
auto-replies, bulk and list mail), which are defaults ``[prerules]`` turns off or changes. A
rule matches when all of its conditions match: ``from`` (the sender's address or the whole
From header), ``to`` (any To or Cc address, or the whole headers), ``subject``, and each
``header`` field named (present, and one of its values matching; ``""`` matches any value).
Patterns are case-insensitive Python regular expressions, searched anywhere in the text
(anchor them with ``^`` and ``$``). ``decision = "act"`` without an ``action`` runs the agent
(the rule only keeps the built-ins away and may set the priority); with one, the action is
drafted for approval without a model call. A bad pattern is a ConfigError naming the rule::

    [[rules]]
    name = "ci-failures"
    from = "@ci\\.example\\.com$"
    subject = "failed"
    decision = "notify"
    priority = "high"

    [[rules]]
    name = "receipts"
    header = { "X-Mailer" = "^shopsystem" }
    decision = "act"
    action = { kind = "write_note", args = { path = "receipts.md", content = "a receipt" } }

The action's kind and arguments are checked against the kinds registry above this layer
(``ambient.agent.prerules.check_rules``), when the configuration is loaded by a command or the
daemon.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    model_validator,
)

from ambient.core.named_entries import checked_entry, entry_problem

RuleDecision = Literal["ignore", "notify", "act"]
RulePriority = Literal["low", "normal", "high"]
BuiltInDecision = Literal["ignore", "notify", "off"]  # off: the built-in never fires
BUILT_IN_RULES = ("bounce", "auto_reply", "bulk")  # [prerules] keys, in the order checked
RULE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 field name: printable, no colon
PATTERN_FLAGS = re.IGNORECASE


class PreRuleSettings(BaseModel):
    """``[prerules]``: what each built-in rule decides (``"off"``: it never fires)."""

    model_config = ConfigDict(extra="forbid")

    bounce: BuiltInDecision = "notify"  # From MAILER-DAEMON@/postmaster@, delivery reports
    auto_reply: BuiltInDecision = "ignore"  # Auto-Submitted (but "no"), X-Autoreply, X-Autorespond
    bulk: BuiltInDecision = "ignore"  # List-Unsubscribe, List-Id, Precedence: bulk|list|junk


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is not a regular expression, or None when it is one."""
    try:
        re.compile(pattern, PATTERN_FLAGS)
    except re.error as error:
        return f"not a valid regular expression ({error})"
    return None


class RuleActionSettings(BaseModel):
    """The action a rule drafts: any registered kind, with that kind's arguments."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class RuleSettings(BaseModel):
    """One ``[[rules]]`` entry (see the module's doc)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=RULE_NAME)  # letters, digits, `_`, `.`, `-`
    sender: str | None = Field(default=None, alias="from")
    to: str | None = None
    subject: str | None = None
    header: dict[str, str] = Field(default_factory=dict)
    decision: RuleDecision
    # None: low for ignore, normal otherwise (act without an action: the model's)
    priority: RulePriority | None = None
    action: RuleActionSettings | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _checked(cls, data: Any, handler: ModelWrapValidatorHandler[RuleSettings]) -> RuleSettings:
        return checked_entry("rule", data, handler)

    def _problem(self) -> str | None:
        if not self.patterns:
            return "give at least one of from, to, subject or header to match on"
        for field_name, pattern in self.patterns:
            problem = pattern_problem(pattern)
            if problem:
                return f"{field_name}: {problem}: {pattern!r}"
        bad = [name for name in self.header if not HEADER_NAME.match(name)]
        if bad:
            return f"header: {bad[0]!r} is not a header field name"
        if self.action is not None and self.decision != "act":
            return f'an action is drafted only with decision = "act", not {self.decision!r}'
        if self.name in BUILT_IN_RULES:
            return "the name is a built-in rule's (change it in [prerules] instead)"
        return None

    @property
    def patterns(self) -> list[tuple[str, str]]:
        """(where, pattern) for each condition: ``from``, ``to``, ``subject``, ``header.X``."""
        given = (("from", self.sender), ("to", self.to), ("subject", self.subject))
        found = [(where, pattern) for where, pattern in given if pattern is not None]
        return found + [(f"header.{name}", pattern) for name, pattern in self.header.items()]


def _unique_names(rules: list[RuleSettings]) -> list[RuleSettings]:
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise entry_problem("rule", duplicates[0], "the name is taken by another [[rules]] entry")
    return rules


RuleList = Annotated[list[RuleSettings], AfterValidator(_unique_names)]
