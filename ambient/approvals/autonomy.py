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
and for a kind ``autonomy.kinds`` allows (empty: every kind with a scope). A new draft in an
autonomous class that the policy gate passes with no finding at all is then approved at intake,
in the queue's transaction, by the actor ``autonomy:<class>``, as a human approval is (audit
entry with the arguments' hash, the decision event, the outbox). Never a revision asked for
with feedback (the human wants to see it), nor a draft whose thread has moved on. ``ambient
autonomy off`` is a kill switch kept in the database, so a running daemon obeys it at once.
Level changes, resets and the switch are audit entries (``autonomy_*``) and one log line each.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel, select

from ambient.approvals import appliers
from ambient.approvals.audit import append_entry
from ambient.approvals.decisions import newer_in_thread
from ambient.approvals.kinds import KINDS
from ambient.approvals.tables import (
    Approval,
    ApprovalStatus,
    AutonomyClass,
    AutonomyLevel,
    AutonomySwitch,
    Decision,
)
from ambient.core.config import AutonomySettings
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


def kind_allowed(settings: AutonomySettings, kind: str) -> bool:
    return not settings.kinds or kind in settings.kinds


def eval_holds(evidence: AutonomyClass, settings: AutonomySettings) -> bool:
    agreement = evidence.eval_agreement
    return agreement is None or agreement >= settings.min_eval_agreement


def earned(evidence: AutonomyClass, settings: AutonomySettings) -> bool:
    """The streak is long enough and the evals (if any) agree: promoted when allowed."""
    return evidence.streak >= settings.streak and eval_holds(evidence, settings)


def may_act(evidence: AutonomyClass, settings: AutonomySettings) -> bool:
    return settings.enabled and kind_allowed(settings, evidence.kind)


# ---- storage -----------------------------------------------------------------------------
def _insert_missing(session: Session, table: type[SQLModel], values: dict[str, Any]) -> None:
    """Insert the row unless one with its key exists (two writers may both try: one wins)."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.exec(insert(table).values(**values).on_conflict_do_nothing())


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
    settings: AutonomySettings,
    now: datetime,
    cause: Cause,
) -> None:
    autonomous = evidence.level == AutonomyLevel.AUTONOMOUS
    if not autonomous and may_act(evidence, settings) and earned(evidence, settings):
        _promote(session, evidence, now, cause)


# ---- the hooks: the queue calls these inside its write transactions ------------------------
def approve_at_intake(
    session: Session, row: Approval, settings: AutonomySettings, now: datetime
) -> bool:
    """Approve a freshly queued draft by rule when its class is autonomous and it has no
    policy finding; False leaves it to the human."""
    if not settings.enabled or row.status != ApprovalStatus.PENDING or row.warnings:
        return False
    if row.parent_id is not None:  # a revision the human asked for with feedback
        return False
    name = autonomy_class(row.kind, row.args)
    if name is None or not kind_allowed(settings, class_kind(name)):
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


def record_decision(
    session: Session, row: Approval, settings: AutonomySettings, now: datetime
) -> None:
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
    session: Session, taken: TakenBack | None, settings: AutonomySettings, now: datetime, actor: str
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
    if evidence.level == AutonomyLevel.AUTONOMOUS and not earned(evidence, settings):
        reason = (
            f"approval #{taken.approval_id} undone by {actor}: "
            f"{evidence.streak} of {settings.streak} approvals in a row"
        )
        _set_level(session, evidence, AutonomyLevel.LEARNING, reason, now, cause, restart=False)


# ---- from the edges: evals, reset, the switch ----------------------------------------------
def record_eval_agreement(
    target: Session | Engine,
    name: str,
    agreement: float,
    items: int,
    now: datetime,
    settings: AutonomySettings,
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
        if agreement < settings.min_eval_agreement:
            reason = (
                f"eval agreement {agreement:.0%} over {items} items, below "
                f"{settings.min_eval_agreement:.0%}"
            )
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
