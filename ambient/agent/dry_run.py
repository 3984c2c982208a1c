"""`ambient triage FILE.eml`: run the agent once on a message and show what it would do.

Nothing is queued and nothing is written: a way to tune memory files against real messages.
Each drafted action is shown with what the policy gate would say about it. The message counts
as newer than everything in the ledger: any past decision may be shown to it as an example.
The pre-rules come first, as in the daemon: when one decides, the report names it and no model
is called.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ambient.agent.deps import AgentItem
from ambient.agent.prerules import FiredRule, PreRules
from ambient.agent.processor import action_context
from ambient.agent.runner import TriageAgent
from ambient.agent.triage import Triage
from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.kinds import KINDS
from ambient.approvals.policy import PolicyGate
from ambient.approvals.provenance import trace_provenance
from ambient.core.errors import AmbientError, DecisionError, NotFoundError
from ambient.core.message import UnparseableMessage
from ambient.core.processing import PermanentItemError, TransientItemError

DRY_RUN_ITEM_ID = 2**63 - 1  # above every ledger id: every past decision may be an example


@dataclass(frozen=True)
class DryRunDraft:
    kind: str
    args: dict[str, Any]
    rationale: str
    policy: str  # "ok", "warn" or "block"
    findings: list[str]  # "rule: reason", one per finding
    rules: tuple[tuple[str, str], ...] = ()  # (rule, "block" or "warn"), one per finding

    @property
    def verdict(self) -> str:
        """`block by denied_domain`, `warn by note_exists, send_outside_thread`, or `ok`."""
        deciding = [rule for rule, action in self.rules if action == self.policy]
        return f"{self.policy} by {', '.join(deciding)}" if deciding else self.policy


@dataclass(frozen=True)
class DryRunReport:
    file: str
    subject: str
    sender: str
    model: str
    triage: Triage
    drafts: list[DryRunDraft]
    email_tokens: int
    memory_budget_tokens: int
    examples_tokens: int = 0
    examples: tuple[int, ...] = ()  # the past items shown as examples
    pre_rule: FiredRule | None = None  # the pre-rule that matched, if one did

    @property
    def model_called(self) -> bool:
        return self.pre_rule is None or not self.pre_rule.decides

    def as_json(self) -> dict[str, Any]:
        """Stable keys for scripts."""
        return {
            "file": self.file,
            "subject": self.subject,
            "sender": self.sender,
            "model": self.model,
            "triage": self.triage.model_dump(),
            "drafts": [
                {
                    "kind": draft.kind,
                    "args": draft.args,
                    "rationale": draft.rationale,
                    "policy": draft.policy,
                    "findings": draft.findings,
                }
                for draft in self.drafts
            ],
            "prompt": {
                "email_tokens": self.email_tokens,
                "memory_budget_tokens": self.memory_budget_tokens,
                "examples_tokens": self.examples_tokens,
                "examples": list(self.examples),
            },
            "pre_rule": self.pre_rule.as_json() if self.pre_rule is not None else None,
            "model_called": self.model_called,
            "queued": False,
        }


def read_item(path: Path) -> tuple[AgentItem, bytes]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except OSError as error:
        raise AmbientError(f"{path}: cannot be read: {error.strerror}") from error
    try:
        return AgentItem.from_raw(DRY_RUN_ITEM_ID, "dry-run", raw), raw
    except UnparseableMessage as error:
        raise AmbientError(f"{path}: {error}") from None


def checked(draft: DraftedAction, context: ActionContext, gate: PolicyGate) -> DryRunDraft:
    """A draft with what `gate` says about it."""
    provenance = trace_provenance(KINDS.of(draft.kind).outgoing_texts(draft.args), context)
    report = gate.check(
        draft.kind, draft.args, thread_addresses=context.thread_addresses, provenance=provenance
    )
    verdict = "block" if report.blocked else ("warn" if report.warnings else "ok")
    return DryRunDraft(
        draft.kind,
        draft.args,
        draft.rationale,
        verdict,
        [str(finding) for finding in report.findings],
        tuple((finding.rule, finding.action) for finding in report.findings),
    )


def decided_by_rule(
    path: Path, item: AgentItem, fired: FiredRule, agent: TriageAgent, gate: PolicyGate
) -> DryRunReport:
    """The report of a pre-rule's decision: no prompt, no model call."""
    subject = item.message.subject
    drafts, note = [], ""
    if fired.action is not None:
        try:
            drafts.append(checked(fired.draft(item), action_context(item), gate))
        except DecisionError as error:
            note = f"its {fired.action.kind} action could not be drafted: {error}"
    return DryRunReport(
        file=str(path),
        subject=subject,
        sender=item.message.sender,
        model=agent.settings.model_name,
        triage=fired.triage(subject, note),
        drafts=drafts,
        email_tokens=0,
        memory_budget_tokens=0,
        pre_rule=fired,
    )


async def dry_run(
    path: Path, agent: TriageAgent, gate: PolicyGate, rules: PreRules | None = None
) -> DryRunReport:
    """Run `agent` (an untraced one: the dry run records nothing) on the message in `path`,
    unless one of `rules` decides it; each draft with what `gate` says about it."""
    item, raw = read_item(path)
    fired = rules.first_match(item, raw) if rules is not None else None
    if fired is not None and fired.decides:
        return decided_by_rule(path, item, fired, agent, gate)
    examples = await agent.similar(item)
    _deps, plan = agent.prepare(item, examples)
    try:
        outcome = await agent.triage(item, examples)
    except (PermanentItemError, TransientItemError) as error:
        raise AmbientError(f"{path}: {error}") from None
    context = action_context(item, outcome.memory_read)
    drafts = [checked(draft, context, gate) for draft in outcome.drafts]
    triage = outcome.triage
    if fired is not None and fired.priority is not None:  # an "act" rule: its priority
        triage = triage.model_copy(update={"priority": fired.priority})
    return DryRunReport(
        file=str(path),
        subject=item.message.subject,
        sender=item.message.sender,
        model=agent.settings.model_name,
        triage=triage,
        drafts=drafts,
        email_tokens=plan.email_tokens,
        memory_budget_tokens=plan.memory_budget_tokens,
        examples_tokens=plan.examples_tokens,
        examples=plan.examples,
        pre_rule=fired,
    )


def rule_line(fired: FiredRule) -> str:
    """`pre-rule: bulk (built-in) — bulk or list mail (List-Id: …)`, and what it decided."""
    whose = "built-in" if fired.built_in else "your [[rules]]"
    line = f"pre-rule: {fired.name} ({whose}): {fired.why}"
    return line if fired.decides else f"{line}; act: the model decides"


def render_text(report: DryRunReport) -> str:
    """The report for a person (the CLI prints it as is)."""
    triage = report.triage
    lines = [
        f"{report.file}: {report.subject!r} from {report.sender}",
        *([rule_line(report.pre_rule)] if report.pre_rule is not None else []),
        f"decision: {triage.decision} (priority {triage.priority})",
        f"summary:  {triage.summary}",
        f"reason:   {triage.reason}",
    ]
    if not report.drafts:
        lines.append("no actions drafted")
    else:
        lines.append(f"drafted actions ({len(report.drafts)}; dry run: nothing queued):")
    for number, draft in enumerate(report.drafts, start=1):
        lines.append(f"  {number}. {draft.kind} [policy: {draft.verdict}] {draft.rationale}")
        actions = [action for _rule, action in draft.rules] or [draft.policy] * len(draft.findings)
        lines.extend(
            f"     ! {'blocked' if action == 'block' else 'warning'}: {finding}"
            for action, finding in zip(actions, draft.findings, strict=False)
        )
        for key, value in draft.args.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            indented = str(text).replace("\n", "\n" + " " * (8 + len(key)))
            lines.append(f"     {key}: {indented}")
    if not report.model_called:
        lines.append(f"no model was called (the pre-rule decided; model {report.model} unused)")
        return "\n".join(lines)
    shown = ", ".join(str(item_id) for item_id in report.examples)
    examples = (
        f"{len(report.examples)} example(s) ~{report.examples_tokens} tokens (items {shown})"
        if report.examples
        else "no examples"
    )
    lines.append(
        f"prompt: email ~{report.email_tokens} tokens, {examples}, memory budget ~"
        f"{report.memory_budget_tokens} tokens; model {report.model}"
    )
    return "\n".join(lines)
