"""Earned autonomy (opt-in): an action class the human approved N times in a row as drafted is
approved by a rule, until the first rejection, edit or feedback takes it back to the human.

An action class is a kind plus the scope its module names (:meth:`Kind.autonomy_scope`): a
reply to one contact is ``reply_email:ann@example.com``, a note into one folder
``write_note:projects/``; a kind or an action without a scope (a memory update, an email to
several people) never earns it. Each class's evidence (:class:`AutonomyClass`) changes in the
write transaction of the decision it counts, so it cannot drift from the audit log:

- a human approval as drafted adds one to the streak. One whose policy warnings the human
  acknowledged neither adds nor breaks it: the rule never takes a draft with a finding, so
  such a draft is no evidence for it; an ignore says nothing either;
- an edit, feedback or a rejection by a human restarts the streak from 0, and demotes the
  class if it was autonomous; so does an undo of an approval the rule made, and an eval
  agreement below ``autonomy.min_eval_agreement`` (:func:`record_eval_agreement`);
- a human undo of their approval takes it back from the streak.

A class is promoted once its streak reaches ``autonomy.streak`` and its last eval agreement,
if it has one, is at or above the threshold — only with ``autonomy.enabled`` in ambient.toml
and for a kind ``autonomy.kinds`` names. An empty ``autonomy.kinds`` means every kind whose
module says its scope bounds what a draft can do (``Kind.autonomy_by_default``: an email to one
contact, a note into one folder); a webhook or an MCP call, whose payload or arguments the model
writes (and an email can steer), earns it only when named, and an MCP call only for a tool its
server lists in ``[[mcp]] autonomous`` (``Kind.autonomy_refusal``). A new draft in an
autonomous class that the policy gate passes with no finding at all is then approved at intake,
in the queue's transaction, by the actor ``autonomy:<class>``, as a human approval is (audit
entry with the arguments' hash, the decision event, the outbox). Never a revision asked for
with feedback (the human wants to see it), nor a draft whose thread has moved on. ``ambient
autonomy off`` is a kill switch kept in the database, so a running daemon obeys it at once.
Level changes, resets and the switch are audit entries (``autonomy_*``) and one log line each.

The rule's approval holds only while the rule does. Right before the outbox runs an action the
rule approved whose delivery has not begun (no delivery stage: e.g. one waiting in backoff
while the mail server is down), it asks again in its claiming transaction (:func:`hold_back`):
the switch is on, ``autonomy.enabled``, the kind and scope are still allowed, the class is still
autonomous, and the policy gate finds nothing, not even a warning. If any of that fails, the
action is not run: it waits for the human again, as a re-queued row does (a new review round,
so a new shown hash; ``stale_reason`` says why; a ``requeued`` audit entry by ``autonomy``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from ambient.approvals import appliers
from ambient.approvals.audit import append_entry
from ambient.approvals.decisions import newer_in_thread, refresh_hash, reset_to_review
from ambient.approvals.kinds import KINDS
from ambient.approvals.policy import PolicyReport
from ambient.approvals.shown import canonical_json
from ambient.approvals.tables import (
    Approval,
    ApprovalStatus,
    AutonomyClass,
    AutonomyLevel,
    AutonomySwitch,
    Decision,
)
from ambient.core.config import AutonomySettings, Settings
from ambient.core.db import write_session
from ambient.core.errors import DecisionError

log = logging.getLogger(__name__)

ACTOR_PREFIX = "autonomy:"
MAX_CLASS_CHARS = 500
SWITCH_ID = 1
REASON_CHARS = 300
BROKEN_BY = {
    Decision.EDITED: "edited",
    Decision.FEEDBACK: "feedback on",
    Decision.REJECTED: "rejected",
}
LEVEL_EVENTS = {
    AutonomyLevel.AUTONOMOUS: "autonomy_promoted",
    AutonomyLevel.DEMOTED: "autonomy_demoted",
    AutonomyLevel.LEARNING: "autonomy_reset",
}


# ---- classes -----------------------------------------------------------------------------
def autonomy_class(kind: str, args: dict[str, Any]) -> str | None:
    """The action class of an action (``<kind>:<scope>``), or None: it never earns autonomy."""
    action_kind = KINDS.get(kind)
    scope = action_kind.autonomy_scope(args) if action_kind is not None else None
    if not scope:
        return None
    name = f"{kind}:{scope}"
    return name if len(name) <= MAX_CLASS_CHARS else None


def class_kind(name: str) -> str:
    kind, separator, scope = name.partition(":")
    if not separator or not kind or not scope:
        raise DecisionError(f"{name!r} is not an action class (expected KIND:SCOPE)")
    return kind


def actor_for(name: str) -> str:
    """Who the rule decides as, in the audit log and the trace: ``autonomy:<class>``."""
    return ACTOR_PREFIX + name


def is_automatic(actor: str | None) -> bool:
    return bool(actor) and str(actor).startswith(ACTOR_PREFIX)


def kinds_by_default() -> list[str]:
    """The kinds that may earn autonomy while ``autonomy.kinds`` is empty (their modules say
    their scope bounds what a draft can do)."""
    return [kind.name for kind in KINDS if kind.autonomy_by_default]


def kind_refusal(settings: Settings, name: str) -> str | None:
    """Why the rule may not approve drafts of the class `name` under these settings, whatever
    its evidence (None: it may, once earned and enabled): a kind ``autonomy.kinds`` leaves out
    (empty: every kind safe by default), or what the kind's module says of the scope."""
    kind, _, scope = name.partition(":")
    action_kind = KINDS.get(kind)
    if action_kind is None:
        return f"{kind} is not a registered kind"
    listed = settings.autonomy.kinds
    if listed and kind not in listed:
        return f"{kind} is not in autonomy.kinds"
    if not listed and not action_kind.autonomy_by_default:
        return f"{kind} earns autonomy only when autonomy.kinds names it"
    return action_kind.autonomy_refusal(scope, settings)


def eval_holds(evidence: AutonomyClass, settings: AutonomySettings) -> bool:
    agreement = evidence.eval_agreement
    return agreement is None or agreement >= settings.min_eval_agreement


def earned(evidence: AutonomyClass, settings: AutonomySettings) -> bool:
    """The streak is long enough and the evals (if any) agree: promoted when allowed."""
    return evidence.streak >= settings.streak and eval_holds(evidence, settings)


def may_act(evidence: AutonomyClass, settings: Settings) -> bool:
    return settings.autonomy.enabled and kind_refusal(settings, evidence.name) is None


# ---- storage -----------------------------------------------------------------------------
def _insert_missing(session: Session, table: type[SQLModel], values: dict[str, Any]) -> None:
    """Insert the row unless one with its key exists (two writers may both try: one wins)."""
    # The dialect's own INSERT, imported here: PostgreSQL's dialect package is sizeable, and
    # every command (the TUI too) imports this module.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        session.exec(postgresql_insert(table).values(**values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.exec(sqlite_insert(table).values(**values).on_conflict_do_nothing())


def _locked(session: Session, name: str, now: datetime, *, create: bool) -> AutonomyClass | None:
    """The class's evidence, locked for this transaction (created first with `create`)."""
    if create:
        values = {
            "name": name,
            "kind": class_kind(name),
            "level": AutonomyLevel.LEARNING,
            "streak": 0,
            "approved": 0,
            "auto_approved": 0,
            "changed_at": now,
            "change_reason": "",
            "created_at": now,
            "updated_at": now,
        }
        _insert_missing(session, AutonomyClass, values)
    query = select(AutonomyClass).where(AutonomyClass.name == name)
    if session.get_bind().dialect.name != "sqlite":  # SQLite: BEGIN IMMEDIATE locked it all
        query = query.with_for_update()
    return session.exec(query).first()


@contextmanager
def _writing(target: Session | Engine) -> Iterator[Session]:
    """The caller's transaction, or a write transaction of our own on the engine."""
    if isinstance(target, Session):
        yield target
        return
    with write_session(target) as session:
        yield session


def switch_is_on(session: Session) -> bool:
    row = session.get(AutonomySwitch, SWITCH_ID)
    return row is None or row.switched_on


# ---- changes -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Cause:
    """Who or what changed a class, and the approval it came from (for the audit entry)."""

    actor: str
    approval_id: int | None = None
    item_id: int | None = None

    @classmethod
    def of(cls, row: Approval, actor: str) -> Cause:
        return cls(actor, row.id, row.item_id)


def _set_level(
    session: Session,
    evidence: AutonomyClass,
    level: AutonomyLevel,
    reason: str,
    now: datetime,
    cause: Cause,
    *,
    restart: bool,
    audited: bool = False,
) -> None:
    """Change the level (and restart the streak with `restart`); audited when the level
    changes (or with `audited`), logged in one line either way."""
    previous = evidence.level
    evidence.level = level
    if restart:
        evidence.streak = 0
        evidence.streak_since = now
    evidence.change_reason = reason[:REASON_CHARS]
    evidence.changed_at = evidence.updated_at = now
    session.add(evidence)
    if previous == level and not audited:
        log.info("autonomy class=%s %s, streak restarted: %s", evidence.name, level.value, reason)
        return
    append_entry(
        session,
        at=now,
        actor=cause.actor,
        event=LEVEL_EVENTS[level],
        approval_id=cause.approval_id,
        item_id=cause.item_id,
        details={
            "class": evidence.name,
            "from": previous.value,
            "to": level.value,
            "reason": evidence.change_reason,
            "streak": evidence.streak,
            "eval_agreement": evidence.eval_agreement,
        },
    )
    log.info(
        "autonomy class=%s %s -> %s by %s: %s",
        evidence.name,
        previous.value,
        level.value,
        cause.actor,
        reason,
    )


def _promote(session: Session, evidence: AutonomyClass, now: datetime, cause: Cause) -> None:
    reason = f"{evidence.streak} approvals in a row without an edit"
    if evidence.eval_agreement is not None:
        reason += f", eval agreement {evidence.eval_agreement:.0%} over {evidence.eval_items} items"
    _set_level(session, evidence, AutonomyLevel.AUTONOMOUS, reason, now, cause, restart=False)


def _back_to_human(
    session: Session, evidence: AutonomyClass, reason: str, now: datetime, cause: Cause
) -> None:
    """Streak restarted; an autonomous class demoted (a learning one stays learning)."""
    level = AutonomyLevel.DEMOTED if evidence.level == AutonomyLevel.AUTONOMOUS else evidence.level
    _set_level(session, evidence, level, reason, now, cause, restart=True)


def _promote_if_earned(
    session: Session,
    evidence: AutonomyClass,
    settings: Settings,
    now: datetime,
    cause: Cause,
) -> None:
    autonomous = evidence.level == AutonomyLevel.AUTONOMOUS
    if not autonomous and may_act(evidence, settings) and earned(evidence, settings.autonomy):
        _promote(session, evidence, now, cause)


# ---- the hooks: the queue calls these inside its write transactions ------------------------
def approve_at_intake(session: Session, row: Approval, settings: Settings, now: datetime) -> bool:
    """Approve a freshly queued draft by rule when its class is autonomous and it has no
    policy finding; False leaves it to the human."""
    if not settings.autonomy.enabled or row.status != ApprovalStatus.PENDING or row.warnings:
        return False
    if row.parent_id is not None:  # a revision the human asked for with feedback
        return False
    name = autonomy_class(row.kind, row.args)
    if name is None or kind_refusal(settings, name) is not None:
        return False
    evidence = _locked(session, name, now, create=False)
    if evidence is None or not switch_is_on(session) or newer_in_thread(session, row):
        return False
    _promote_if_earned(session, evidence, settings, now, Cause.of(row, "autonomy"))
    if evidence.level != AutonomyLevel.AUTONOMOUS:
        return False
    refused = appliers.approver(False, actor_for(name))(session, row, now)
    if refused is not None:
        log.warning("approval=%s not approved by autonomy: %s", row.id, refused)
        return False
    evidence.auto_approved += 1
    evidence.updated_at = now
    session.add(evidence)
    return True


def record_decision(session: Session, row: Approval, settings: Settings, now: datetime) -> None:
    """Count a human decision just applied to `row` in its class's evidence."""
    name = autonomy_class(row.kind, row.args)
    actor = row.decided_by or ""
    if name is None or row.decision is None or is_automatic(actor):
        return
    cause = Cause.of(row, actor)
    if row.decision == Decision.APPROVED:
        if row.warnings_acknowledged:
            return
        evidence = _locked(session, name, now, create=True)
        assert evidence is not None
        evidence.streak += 1
        evidence.approved += 1
        evidence.updated_at = now
        session.add(evidence)
        _promote_if_earned(session, evidence, settings, now, cause)
    elif row.decision in BROKEN_BY:
        evidence = _locked(session, name, now, create=True)
        assert evidence is not None
        reason = f"{BROKEN_BY[row.decision]} #{row.id} by {actor}"
        if row.decision_message:
            reason += f": {' '.join(row.decision_message.split())}"
        _back_to_human(session, evidence, reason, now, cause)


# ---- right before it runs: the outbox asks again --------------------------------------------
def revoked(
    session: Session, row: Approval, settings: Settings, report: PolicyReport, now: datetime
) -> str | None:
    """Why an approval the rule made may no longer run (None: it may), asked in the outbox's
    claiming transaction: the switch, the config, the class's level, the policy gate now."""
    name = (row.decided_by or "").removeprefix(ACTOR_PREFIX)
    switch = session.get(AutonomySwitch, SWITCH_ID)
    if switch is not None and not switch.switched_on:
        return f"autonomy was switched off by {switch.changed_by or 'someone'}"
    if not settings.autonomy.enabled:
        return "autonomy is off in ambient.toml"
    refused = kind_refusal(settings, name)
    if refused is not None:
        return refused
    evidence = _locked(session, name, now, create=False)
    if evidence is None or evidence.level != AutonomyLevel.AUTONOMOUS:
        level = AutonomyLevel(evidence.level).value if evidence is not None else "unknown"
        return f"{name} is {level}" + (f": {evidence.change_reason}" if evidence else "")
    if report.blocked:
        return f"the policy gate blocks it: {report.block_reason}"
    if report.warnings:
        return f"the policy gate warns: {'; '.join(report.warnings)}"
    return None


def hold_back(
    session: Session, row: Approval, settings: Settings, report: PolicyReport, now: datetime
) -> bool:
    """Before the outbox runs an approval the rule made whose delivery has not begun: True when
    the rule's approval no longer holds (:func:`revoked`); the row then waits for the human
    again, as a re-queued one does (a new review round and hash, the reason, an audit entry),
    and is never run on the rule's word."""
    reason = revoked(session, row, settings, report, now)
    if reason is None:
        return False
    approved_by = row.decided_by
    reset_to_review(row, now)
    row.status = ApprovalStatus.BLOCKED if report.blocked else ApprovalStatus.PENDING
    row.block_reason = f"at execution: {report.block_reason}" if report.blocked else None
    row.policy_warnings_json = canonical_json(report.warnings)
    row.stale_reason = f"approved by rule but not run: {reason}; re-queued for review"
    row.attempts = 0
    row.lease_owner = None
    row.lease_expires_at = None
    refresh_hash(row)
    session.add(row)
    append_entry(
        session,
        at=now,
        actor="autonomy",
        event="requeued",
        approval_id=row.id,
        item_id=row.item_id,
        details={"reason": row.stale_reason, "round": row.review_round, "approved_by": approved_by},
    )
    log.warning("approval=%s not run: %s", row.id, row.stale_reason)
    return True


@dataclass(frozen=True)
class TakenBack:
    """What an undo takes back, read before the row is reset."""

    approval_id: int | None
    item_id: int
    name: str
    decision: Decision | None
    decided_by: str
    decided_at: datetime | None
    warnings_acknowledged: bool

    @classmethod
    def of(cls, row: Approval) -> TakenBack | None:
        name = autonomy_class(row.kind, row.args)
        if name is None or row.status != ApprovalStatus.APPROVED:
            return None
        return cls(
            row.id,
            row.item_id,
            name,
            row.decision,
            row.decided_by or "",
            row.decided_at,
            row.warnings_acknowledged,
        )


def record_undo(
    session: Session, taken: TakenBack | None, settings: Settings, now: datetime, actor: str
) -> None:
    """An approval was undone: the rule's demotes its class; a human's leaves the streak."""
    if taken is None:
        return
    cause = Cause(actor, taken.approval_id, taken.item_id)
    if is_automatic(taken.decided_by):
        evidence = _locked(session, taken.name, now, create=True)
        assert evidence is not None
        reason = f"automatic approval #{taken.approval_id} undone by {actor}"
        _back_to_human(session, evidence, reason, now, cause)
        return
    if taken.decision != Decision.APPROVED or taken.warnings_acknowledged:
        return
    evidence = _locked(session, taken.name, now, create=False)
    since = evidence.streak_since if evidence is not None else None
    if evidence is None or (since and taken.decided_at and taken.decided_at < since):
        return  # it was not part of the streak that counts now
    evidence.streak = max(evidence.streak - 1, 0)
    evidence.approved = max(evidence.approved - 1, 0)
    evidence.updated_at = now
    session.add(evidence)
    if evidence.level == AutonomyLevel.AUTONOMOUS and not earned(evidence, settings.autonomy):
        reason = (
            f"approval #{taken.approval_id} undone by {actor}: "
            f"{evidence.streak} of {settings.autonomy.streak} approvals in a row"
        )
        _set_level(session, evidence, AutonomyLevel.LEARNING, reason, now, cause, restart=False)


# ---- from the edges: evals, reset, the switch ----------------------------------------------
def record_eval_agreement(
    target: Session | Engine,
    name: str,
    agreement: float,
    items: int,
    now: datetime,
    settings: Settings,
    *,
    actor: str = "eval",
) -> AutonomyClass:
    """An eval run's agreement with the human for one class (0..1 over `items` items): below
    ``min_eval_agreement`` the class goes back to the human and its streak restarts; at or
    above it, a class whose streak is long enough is promoted."""
    if not 0.0 <= agreement <= 1.0:
        raise DecisionError(f"eval agreement must be between 0 and 1, got {agreement}")
    with _writing(target) as session:
        evidence = _locked(session, name, now, create=True)
        assert evidence is not None
        evidence.eval_agreement = agreement
        evidence.eval_items = items
        evidence.eval_at = evidence.updated_at = now
        session.add(evidence)
        cause = Cause(actor)
        threshold = settings.autonomy.min_eval_agreement
        if agreement < threshold:
            reason = f"eval agreement {agreement:.0%} over {items} items, below {threshold:.0%}"
            _back_to_human(session, evidence, reason, now, cause)
        else:
            _promote_if_earned(session, evidence, settings, now, cause)
        return evidence


def reset_class(session: Session, name: str, now: datetime, actor: str) -> AutonomyClass | None:
    """Back to learning with a streak of 0 (None: no such class)."""
    evidence = _locked(session, name, now, create=False)
    if evidence is None:
        return None
    reason = f"reset by {actor}"
    level = AutonomyLevel.LEARNING
    _set_level(session, evidence, level, reason, now, Cause(actor), restart=True, audited=True)
    return evidence


def set_switch(session: Session, switched_on: bool, now: datetime, actor: str) -> bool:
    """Turn the kill switch; False when it already was so (nothing written)."""
    values = {"id": SWITCH_ID, "switched_on": True, "changed_at": now, "changed_by": ""}
    _insert_missing(session, AutonomySwitch, values)
    query = select(AutonomySwitch).where(AutonomySwitch.id == SWITCH_ID)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    row = session.exec(query).one()
    if row.switched_on == switched_on:
        return False
    row.switched_on = switched_on
    row.changed_at = now
    row.changed_by = actor[:200]
    session.add(row)
    event = "autonomy_on" if switched_on else "autonomy_off"
    append_entry(session, at=now, actor=actor, event=event, details={})
    log.info("autonomy switched %s by %s", "on" if switched_on else "off", actor)
    return True
