"""Earned autonomy as the user sees and steers it: each class's evidence, the switch, a reset.

The CLI (`ambient autonomy …`), the TUI's autonomy screen and `ambient eval run` use
:class:`Autonomy`; the rule itself and the hooks the queue calls live in
:mod:`ambient.approvals.autonomy`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from ambient.approvals import autonomy
from ambient.approvals.tables import AutonomyClass, AutonomyLevel, AutonomySwitch
from ambient.core.clock import Clock
from ambient.core.config import Settings
from ambient.core.db import read_session, write_session
from ambient.core.errors import NotFoundError

LEVEL_ORDER = {AutonomyLevel.AUTONOMOUS: 0, AutonomyLevel.DEMOTED: 1, AutonomyLevel.LEARNING: 2}
OFF_IN_CONFIG = "autonomy is off in ambient.toml"


@dataclass(frozen=True)
class ClassEvidence:
    """One action class as listed: its level, streak and evidence, and whether the rule acts."""

    id: int
    name: str
    kind: str
    level: str
    streak: int
    needed: int
    approved: int
    auto_approved: int
    eval_agreement: float | None
    eval_items: int | None
    eval_at: datetime | None
    changed_at: datetime
    reason: str
    acting: bool  # a clean draft in it is approved by rule now
    note: str  # why it does not act although it earned it, or what is missing

    def as_json(self) -> dict[str, Any]:
        return {key: _json_value(value) for key, value in asdict(self).items()}


@dataclass(frozen=True)
class AutonomyStatus:
    enabled: bool  # `autonomy.enabled` in ambient.toml
    switched_on: bool  # the kill switch (`ambient autonomy off|on`)
    switch_changed_at: datetime | None
    switch_changed_by: str
    kinds: tuple[str, ...]
    streak: int
    min_eval_agreement: float
    classes: tuple[ClassEvidence, ...]

    @property
    def active(self) -> bool:
        return self.enabled and self.switched_on

    def summary(self) -> str:
        """One line: whether the rule approves anything, and why not."""
        if not self.enabled:
            return (
                f"{OFF_IN_CONFIG} ([autonomy] enabled = false): nothing is approved by rule; "
                "the evidence is still kept"
            )
        if not self.switched_on:
            return (
                f"autonomy is switched off (by {self.switch_changed_by or 'someone'}): nothing "
                "is approved by rule until `ambient autonomy on`"
            )
        listed = ", ".join(self.kinds or autonomy.kinds_by_default())
        kinds = listed if self.kinds else f"the kinds safe by default ({listed})"
        return (
            f"autonomy is on for {kinds}: a class is trusted after {self.streak} approvals in "
            f"a row without an edit (and eval agreement of {self.min_eval_agreement:.0%} where "
            "measured)"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "switch": "on" if self.switched_on else "off",
            "switch_changed_at": _json_value(self.switch_changed_at),
            "switch_changed_by": self.switch_changed_by,
            "active": self.active,
            "kinds": list(self.kinds),
            "streak": self.streak,
            "min_eval_agreement": self.min_eval_agreement,
            "classes": [evidence.as_json() for evidence in self.classes],
        }


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _note(evidence: AutonomyClass, settings: Settings, switched_on: bool) -> str:
    autonomous = evidence.level == AutonomyLevel.AUTONOMOUS
    trust = settings.autonomy
    if not autonomy.eval_holds(evidence, trust):
        return f"eval agreement below {trust.min_eval_agreement:.0%}"
    if not (autonomous or autonomy.earned(evidence, trust)):
        return ""
    if not trust.enabled:
        return OFF_IN_CONFIG
    refused = autonomy.kind_refusal(settings, evidence.name)
    if refused is not None:
        return refused
    if not switched_on:
        return "switched off"
    return "" if autonomous else "earned: trusted from its next draft"


def evidence_view(evidence: AutonomyClass, settings: Settings, switched_on: bool) -> ClassEvidence:
    note = _note(evidence, settings, switched_on)
    acting = evidence.level == AutonomyLevel.AUTONOMOUS and not note
    assert evidence.id is not None
    return ClassEvidence(
        id=evidence.id,
        name=evidence.name,
        kind=evidence.kind,
        level=AutonomyLevel(evidence.level).value,
        streak=evidence.streak,
        needed=settings.autonomy.streak,
        approved=evidence.approved,
        auto_approved=evidence.auto_approved,
        eval_agreement=evidence.eval_agreement,
        eval_items=evidence.eval_items,
        eval_at=evidence.eval_at,
        changed_at=evidence.changed_at,
        reason=evidence.change_reason,
        acting=acting,
        note=note,
    )


class Autonomy:
    """Each class's evidence, the kill switch, resets and eval results, each in a transaction
    of its own (the daemon reads the switch and the levels in every intake's transaction)."""

    def __init__(self, engine: Engine, clock: Clock, settings: Settings) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings  # the whole configuration: an MCP server's tools count too

    def status(self) -> AutonomyStatus:
        with read_session(self.engine) as session:
            switch = session.get(AutonomySwitch, autonomy.SWITCH_ID)
            rows = list(session.exec(select(AutonomyClass).order_by(col(AutonomyClass.name))))
        switched_on = switch is None or switch.switched_on
        rows.sort(key=lambda row: LEVEL_ORDER[AutonomyLevel(row.level)])
        trust = self.settings.autonomy
        return AutonomyStatus(
            enabled=trust.enabled,
            switched_on=switched_on,
            switch_changed_at=switch.changed_at if switch is not None else None,
            switch_changed_by=switch.changed_by if switch is not None else "",
            kinds=tuple(trust.kinds),
            streak=trust.streak,
            min_eval_agreement=trust.min_eval_agreement,
            classes=tuple(evidence_view(row, self.settings, switched_on) for row in rows),
        )

    def switch(self, switched_on: bool, actor: str) -> bool:
        """The kill switch on or off (audited); False when it already was."""
        with write_session(self.engine) as session:
            return autonomy.set_switch(session, switched_on, self.clock.now(), actor)

    def reset(self, name: str, actor: str) -> ClassEvidence:
        """A class back to learning, its streak 0 (audited)."""
        with write_session(self.engine) as session:
            evidence = autonomy.reset_class(session, name, self.clock.now(), actor)
            if evidence is None:
                raise NotFoundError(f"no action class {name!r} (see `ambient autonomy list`)")
            switched_on = autonomy.switch_is_on(session)
        return evidence_view(evidence, self.settings, switched_on)

    def record_eval_agreement(
        self, name: str, agreement: float, items: int, *, actor: str = "eval"
    ) -> ClassEvidence:
        """An eval run's agreement for one class (see autonomy.record_eval_agreement)."""
        with write_session(self.engine) as session:
            evidence = autonomy.record_eval_agreement(
                session, name, agreement, items, self.clock.now(), self.settings, actor=actor
            )
            switched_on = autonomy.switch_is_on(session)
        return evidence_view(evidence, self.settings, switched_on)
