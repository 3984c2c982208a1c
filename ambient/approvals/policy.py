"""The policy gate: deterministic checks on every action, at queue time and before it runs.

Each rule either blocks the action (it cannot be approved; edit or reject it) or raises a
warning the human must acknowledge when approving. The rules are the action kinds' (each kind
module says what its checks look for and what each rule does by default: the email kinds'
recipients and copied text, a note's path, a webhook's URL, …); ``ambient.toml`` changes what
a rule does::

    [policy]
    allowed_domains = ["example.com"]          # empty: any domain that is not denied
    denied_domains = ["evil.example"]
    webhook_allowlist = ["https://hooks.example.com/ambient/"]
    rules = { send_outside_thread = "block", note_exists = "block" }

Arguments that do not validate for their kind (or a kind no module registers) are always
blocked, as ``invalid_arguments``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ambient.approvals.kinds import KINDS, Finding, PolicyCheck, RuleAction
from ambient.approvals.provenance import Provenance
from ambient.core.config import ImapSourceSettings, PolicySettings, Settings
from ambient.core.errors import ConfigError, DecisionError
from ambient.core.lineage import version_hash


def default_rules() -> dict[str, RuleAction]:
    """Every rule of the registered kinds, and what it does unless ``policy.rules`` says."""
    return KINDS.rules()


@dataclass(frozen=True)
class PolicyReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return any(finding.action == "block" for finding in self.findings)

    @property
    def block_reason(self) -> str | None:
        blocks = [str(finding) for finding in self.findings if finding.action == "block"]
        return "; ".join(blocks) if blocks else None

    @property
    def warnings(self) -> list[str]:
        return [str(finding) for finding in self.findings if finding.action == "warn"]


def user_addresses(settings: Settings) -> frozenset[str]:
    """The user's own addresses: ``user_email``, each IMAP account's, each SMTP sender."""
    candidates = [settings.user_email, settings.smtp.from_address if settings.smtp else None]
    for source in settings.sources:
        if isinstance(source, ImapSourceSettings):
            candidates += [source.address or source.username]
            candidates += [source.smtp.from_address if source.smtp else None]
    return frozenset(a.strip().lower() for a in candidates if a and "@" in a)


class PolicyGate:
    def __init__(
        self,
        settings: PolicySettings,
        notes_dir: Path,
        own_addresses: frozenset[str] = frozenset(),
        *,
        config: Settings | None = None,  # the whole configuration, for kinds that read theirs
    ) -> None:
        unknown = sorted(set(settings.rules) - set(default_rules()))
        if unknown:
            known = ", ".join(default_rules())
            raise ConfigError(f"policy.rules: unknown rule {unknown[0]!r} (known: {known})")
        self.settings = settings
        self.notes_dir = notes_dir
        self.own_addresses = frozenset(address.lower() for address in own_addresses)
        self.config = config

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyGate:
        return cls(settings.policy, settings.notes_dir, user_addresses(settings), config=settings)

    @property
    def rules(self) -> dict[str, RuleAction]:
        """What each rule does: the kinds' defaults, then ``policy.rules``."""
        return {**default_rules(), **self.settings.rules}

    @property
    def version(self) -> str:
        """A short hash of the effective policy, for a decision's lineage: the ``[policy]``
        settings and what each rule does (the same on any machine with the same policy)."""
        settings = self.settings.model_dump(mode="json", exclude={"rules"})
        return version_hash({"settings": settings, "rules": self.rules})

    def check(
        self,
        kind: str,
        args: dict[str, Any],
        *,
        thread_addresses: frozenset[str],
        human_recipients: frozenset[str] = frozenset(),
        provenance: Provenance | None = None,
    ) -> PolicyReport:
        """Check one action. `human_recipients`: addresses the human typed in while editing;
        `provenance`: where the draft came from (the approval row keeps it; None: unknown)."""
        action_kind = KINDS.of(kind)
        try:
            action = action_kind.parse(args)
        except DecisionError as error:
            return PolicyReport([Finding("invalid_arguments", "block", str(error))])
        check = PolicyCheck(
            policy=self.settings,
            rules=self.rules,
            notes_dir=self.notes_dir,
            own_addresses=self.own_addresses,
            thread_addresses=thread_addresses,
            human_recipients=human_recipients,
            provenance=provenance,
            settings=self.config,
        )
        action_kind.check(action, check)
        return PolicyReport(check.findings)
