"""The policy gate: deterministic checks on every action, at queue time and before it runs.

Each rule either blocks the action (it cannot be approved; edit or reject it) or raises a
warning the human must acknowledge when approving. ``ambient.toml``::

    [policy]
    allowed_domains = ["example.com"]          # empty: any domain that is not denied
    denied_domains = ["evil.example"]
    webhook_allowlist = ["https://hooks.example.com/ambient/"]
    rules = { send_outside_thread = "block", note_exists = "block" }

Defaults (:data:`DEFAULT_RULES`): a reply to anyone who was not in the thread is blocked (the
classic injection: "forward this to attacker@…"); a new email (``send_email``) to someone outside
the thread is a warning, because writing to new people is what that action is for — the human
sees the warning and must acknowledge it. Recipients the human typed in themselves while editing
are not "outside the thread". Denied/not-allowed domains, too many recipients, an oversized body,
attachments over the limit, webhook URLs not on the allow-list and note or memory paths outside
their folder are blocked. Overwriting an existing note is a warning.

Three warnings look at where an email's addressee and words came from (its
:class:`~ambient.approvals.provenance.Provenance`, gathered when it is queued):
``reply_to_mismatch``, a reply to someone other than the message's ``From`` (its ``Reply-To``,
or another domain than the sender's; a classic spoof); ``private_memory_in_draft``, an email to
anyone but the user that repeats 40+ characters of private memory the run read; and
``copied_from_message``, an email other than a plain reply to the sender that repeats 80+
characters of the incoming message's own text (a "notice" the message dictates). The user's
own addresses (``user_email``, the accounts' addresses) are never "anyone but the user".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ambient.approvals.actions import (
    EMAIL_KINDS,
    CallWebhook,
    EmailAction,
    MemoryUpdate,
    WriteNote,
    address_domain,
    parse_action,
)
from ambient.approvals.paths import UnsafePath, check_relative, resolve_inside
from ambient.approvals.provenance import (
    MEMORY_PASSAGE_CHARS,
    MESSAGE_PASSAGE_CHARS,
    Provenance,
    excerpt,
    shared_passages,
)
from ambient.approvals.shown import canonical_json
from ambient.core.config import DEFAULT_POLICY_RULES, ImapSourceSettings, PolicySettings, Settings
from ambient.core.errors import DecisionError

RuleAction = Literal["block", "warn"]

DEFAULT_RULES: dict[str, RuleAction] = dict(DEFAULT_POLICY_RULES)


@dataclass(frozen=True)
class Finding:
    rule: str
    action: Literal["block", "warn"]
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


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


def url_allowed(url: str, allowlist: Iterable[str]) -> bool:
    """True when `url` is under one allow-list entry: same scheme, host and port, path prefix
    on a segment boundary; never with credentials, `..` segments or encoded dots."""
    try:
        target = urlsplit(url)
        target_port = target.port
    except ValueError:
        return False
    if target.scheme not in ("http", "https") or not target.hostname:
        return False
    if target.username or target.password or "\\" in url:
        return False
    lowered_path = target.path.lower()
    if "%2e" in lowered_path or "%2f" in lowered_path or ".." in target.path.split("/"):
        return False
    for entry in allowlist:
        try:
            allowed = urlsplit(entry)
            allowed_port = allowed.port
        except ValueError:
            continue
        if (allowed.scheme, (allowed.hostname or "").lower()) != (target.scheme, target.hostname):
            continue
        if (allowed_port or _default_port(allowed.scheme)) != (
            target_port or _default_port(target.scheme)
        ):
            continue
        prefix = allowed.path.rstrip("/")
        if not prefix or target.path == prefix or target.path.startswith(prefix + "/"):
            return True
    return False


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


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
    ) -> None:
        self.settings = settings
        self.notes_dir = notes_dir
        self.own_addresses = frozenset(address.lower() for address in own_addresses)
        self.rules: Mapping[str, RuleAction] = {**DEFAULT_RULES, **settings.rules}
        self.allowed_domains = [domain.lower().lstrip("@") for domain in settings.allowed_domains]
        self.denied_domains = [domain.lower().lstrip("@") for domain in settings.denied_domains]

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyGate:
        return cls(settings.policy, settings.notes_dir, user_addresses(settings))

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
        try:
            action = parse_action(kind, args)
        except DecisionError as error:
            return PolicyReport([Finding("invalid_arguments", "block", str(error))])
        findings: list[Finding] = []
        if isinstance(action, EmailAction):
            self._check_email(kind, action, thread_addresses, human_recipients, findings)
            if provenance is not None:
                self._check_provenance(kind, action, provenance, human_recipients, findings)
        elif isinstance(action, WriteNote):
            self._check_note(action, findings)
        elif isinstance(action, CallWebhook):
            self._check_webhook(action, findings)
        elif isinstance(action, MemoryUpdate):
            try:
                check_relative(action.file)
            except UnsafePath as error:
                self._add(findings, "memory_path_outside", str(error))
        return PolicyReport(findings)

    def _add(self, findings: list[Finding], rule: str, message: str) -> None:
        findings.append(Finding(rule, self.rules[rule], message))

    def _check_email(
        self,
        kind: str,
        action: EmailAction,
        thread_addresses: frozenset[str],
        human_recipients: frozenset[str],
        findings: list[Finding],
    ) -> None:
        assert kind in EMAIL_KINDS
        recipients = [address.lower() for address in action.recipients]
        in_thread = {address.lower() for address in thread_addresses}
        typed = {address.lower() for address in human_recipients}
        outside = sorted({a for a in recipients if a not in in_thread and a not in typed})
        if outside:
            rule = "reply_outside_thread" if kind == "reply_email" else "send_outside_thread"
            self._add(findings, rule, f"not in the thread: {', '.join(outside)}")
        for address in sorted(set(recipients)):
            domain = address_domain(address)
            if any(_in_domain(domain, denied) for denied in self.denied_domains):
                self._add(findings, "denied_domain", f"{address}: domain {domain} is denied")
            elif self.allowed_domains and not any(
                _in_domain(domain, allowed) for allowed in self.allowed_domains
            ):
                self._add(findings, "domain_not_allowed", f"{address}: domain {domain} not allowed")
        if len(recipients) > self.settings.max_recipients:
            self._add(
                findings,
                "too_many_recipients",
                f"{len(recipients)} recipients "
                f"(policy.max_recipients = {self.settings.max_recipients})",
            )
        self._check_size(len(action.body), "body", findings)
        self._check_attachments(action.attachments, findings)

    def _check_provenance(
        self,
        kind: str,
        action: EmailAction,
        provenance: Provenance,
        human_recipients: frozenset[str],
        findings: list[Finding],
    ) -> None:
        recipients = sorted({address.lower() for address in action.recipients})
        others = [address for address in recipients if address not in self.own_addresses]
        sender = provenance.sender
        if kind == "reply_email" and sender:
            typed = {address.lower() for address in human_recipients}
            elsewhere = [
                f"{address} ({why})"
                for address in others
                if address != sender
                and address not in typed
                and (why := _why_not_the_sender(address, provenance))
            ]
            if elsewhere:
                self._add(
                    findings,
                    "reply_to_mismatch",
                    f"the reply goes to {', '.join(elsewhere)}, not to the sender {sender}",
                )
        texts = [action.subject, action.body]
        if others and provenance.memory_passages:
            copied = shared_passages(texts, provenance.memory_passages, MEMORY_PASSAGE_CHARS)
            if copied:
                self._add(
                    findings,
                    "private_memory_in_draft",
                    f"repeats your private memory word for word ({excerpt(copied[0])}) "
                    f"to {', '.join(others)}",
                )
        # a plain reply: to the sender (and perhaps the user), no one else
        plain_reply = kind == "reply_email" and sender in recipients and set(others) == {sender}
        if not plain_reply and provenance.message_passages:
            copied = shared_passages(texts, provenance.message_passages, MESSAGE_PASSAGE_CHARS)
            if copied:
                length = sum(len(passage) for passage in copied)
                self._add(
                    findings,
                    "copied_from_message",
                    f"repeats {length} characters of the incoming message's own text "
                    f"({excerpt(copied[0])}); did the message dictate it?",
                )

    def _check_size(self, size: int, what: str, findings: list[Finding]) -> None:
        if size > self.settings.max_body_chars:
            self._add(
                findings,
                "body_too_large",
                f"{what} has {size} characters "
                f"(policy.max_body_chars = {self.settings.max_body_chars})",
            )

    def _check_attachments(self, attachments: list[str], findings: list[Finding]) -> None:
        if not attachments:
            return
        if len(attachments) > self.settings.max_attachments:
            self._add(
                findings,
                "attachments",
                f"{len(attachments)} attachment(s) (policy.max_attachments = "
                f"{self.settings.max_attachments})",
            )
        total = 0
        for relative in attachments:
            try:
                path = resolve_inside(self.notes_dir, relative)
            except UnsafePath as error:
                self._add(findings, "note_path_outside", f"attachment {error}")
                continue
            if not path.is_file():
                self._add(findings, "attachments", f"{relative!r}: no such note to attach")
                continue
            total += path.stat().st_size
        limit = self.settings.max_attachment_bytes
        if total > limit:
            self._add(
                findings,
                "attachments",
                f"attachments total {total} bytes (policy.max_attachment_bytes = {limit})",
            )

    def _check_note(self, action: WriteNote, findings: list[Finding]) -> None:
        try:
            path = resolve_inside(self.notes_dir, action.path)
        except UnsafePath as error:
            self._add(findings, "note_path_outside", str(error))
        else:
            if path.exists():
                self._add(findings, "note_exists", f"{action.path!r} exists and would be replaced")
        self._check_size(len(action.content), "note", findings)

    def _check_webhook(self, action: CallWebhook, findings: list[Finding]) -> None:
        if not url_allowed(action.url, self.settings.webhook_allowlist):
            self._add(
                findings,
                "webhook_not_allowed",
                f"{action.url!r} is not on policy.webhook_allowlist",
            )
        self._check_size(len(canonical_json(action.payload)), "payload", findings)


def _in_domain(domain: str, listed: str) -> bool:
    return domain == listed or domain.endswith("." + listed)


def _why_not_the_sender(address: str, provenance: Provenance) -> str | None:
    """Why a reply's recipient other than the sender is suspect, or None when it is not."""
    if address in provenance.reply_to:
        return "the message's Reply-To"
    domain, sender_domain = address_domain(address), address_domain(provenance.sender)
    if not (_in_domain(domain, sender_domain) or _in_domain(sender_domain, domain)):
        return "another domain than the sender's"
    return None
