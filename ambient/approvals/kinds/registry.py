"""The registry of action kinds: every part that handles actions asks it; none names a kind.

The agent's tools and the prompt's list of them, the policy gate, the outbox's executors, the
TUI and the CLI all come from :data:`KINDS`. A kind is registered once, by name; one more (a
plug-in, a test's toy kind) can be registered at run time and removed again.

The kinds ambient comes with are the modules of this package that define a ``KIND``: adding
a kind is adding its module. They are imported on first use, not when this module is: an
executor looks kinds up here (one SMTP executor serves both email kinds) while each kind module
builds its executor, so importing them all here up front would go round in a circle.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ambient.approvals.executors import Executor
from ambient.approvals.kinds.base import (
    ActionArguments,
    ExecutorParts,
    Kind,
    RuleAction,
    UnregisteredKind,
)
from ambient.core.clock import Clock
from ambient.core.config import Secrets, Settings


def built_in_kinds() -> list[Kind[Any]]:
    """The ``KIND`` of every module of this package that defines one."""
    package = __name__.rpartition(".")[0]
    kinds: list[Kind[Any]] = []
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        kind = getattr(importlib.import_module(f"{package}.{module.name}"), "KIND", None)
        if isinstance(kind, Kind):
            kinds.append(kind)
    return kinds


class KindRegistry:
    def __init__(self, load: Callable[[], Iterable[Kind[Any]]]) -> None:
        self._load = load
        self._kinds: dict[str, Kind[Any]] | None = None
        self._lock = threading.Lock()

    def _all(self) -> dict[str, Kind[Any]]:
        """The kinds by name (replaced, never changed in place: readers need no lock)."""
        kinds = self._kinds
        if kinds is None:
            with self._lock:
                if self._kinds is None:
                    self._kinds = self._joined({}, self._load())
                kinds = self._kinds
        return kinds

    @staticmethod
    def _joined(kinds: Mapping[str, Kind[Any]], new: Iterable[Kind[Any]]) -> dict[str, Kind[Any]]:
        joined = dict(kinds)
        rules = {rule: action for kind in joined.values() for rule, action in kind.rules.items()}
        for kind in new:
            if kind.name in joined:
                raise ValueError(f"action kind {kind.name!r} is registered already")
            for rule, action in kind.rules.items():
                if rules.setdefault(rule, action) != action:
                    raise ValueError(
                        f"action kind {kind.name!r}: rule {rule!r} defaults to {action!r}, "
                        f"another kind's to {rules[rule]!r}"
                    )
            joined[kind.name] = kind
        return dict(sorted(joined.items(), key=lambda item: (item[1].order, item[0])))

    # ---- registering -----------------------------------------------------------------------
    def register(self, kind: Kind[Any]) -> None:
        """Add a kind; ValueError when its name is taken or a rule of it contradicts another."""
        self._all()
        with self._lock:
            self._kinds = self._joined(self._kinds or {}, [kind])

    def unregister(self, name: str) -> None:
        self._all()
        with self._lock:
            self._kinds = {key: kind for key, kind in (self._kinds or {}).items() if key != name}

    @contextmanager
    def registered(self, kind: Kind[Any]) -> Iterator[Kind[Any]]:
        """The kind registered for the block, and removed after it."""
        self.register(kind)
        try:
            yield kind
        finally:
            self.unregister(kind.name)

    # ---- looking up --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Kind[Any]]:
        return iter(list(self._all().values()))

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def names(self) -> list[str]:
        return list(self._all())

    def get(self, name: str) -> Kind[Any] | None:
        return self._all().get(name)

    def of(self, name: str) -> Kind[Any]:
        """The kind of that name, or an UnregisteredKind that shows and blocks its rows."""
        return self._all().get(name) or UnregisteredKind(name, self.names())

    def parse(self, name: str, args: dict[str, Any]) -> ActionArguments:
        """The typed arguments; DecisionError for an unknown kind or invalid arguments."""
        action: ActionArguments = self.of(name).parse(args)
        return action

    def validate(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """The arguments validated and normalized (bare addresses), as plain JSON values."""
        return self.of(name).validate(args)

    def tools(self) -> list[Kind[Any]]:
        """The kinds the agent drafts: each is one tool."""
        return [kind for kind in self if kind.draft is not None]

    def tool_names(self) -> frozenset[str]:
        return frozenset(kind.name for kind in self.tools())

    def drafted_by_agent(self) -> frozenset[str]:
        """The kinds whose drafts come from an agent run (feedback on them resumes it)."""
        return frozenset(kind.name for kind in self if kind.drafted_by_agent)

    def detached(self) -> list[str]:
        """Kinds whose approvals do not hold their item open (learning from a decision)."""
        return [kind.name for kind in self if not kind.holds_item]

    def rules(self) -> dict[str, RuleAction]:
        """Every policy rule of the kinds registered, and what it does by default."""
        return {rule: action for kind in self for rule, action in kind.rules.items()}


KINDS = KindRegistry(built_in_kinds)


def build_executors(
    settings: Settings,
    secrets: Secrets,
    engine: Engine,
    clock: Clock,
    extra_executors: Mapping[str, Executor] | None = None,
) -> dict[str, Executor]:
    """Each registered kind's executor by kind name (both email kinds share one SMTP executor);
    `extra_executors` supplies the ones built above approvals (memory_update's) and wins."""
    parts = ExecutorParts(settings, secrets, engine, clock)
    executors: dict[str, Executor] = {}
    for kind in KINDS:
        executor = kind.build_executor(parts)
        if executor is not None:
            executors[kind.name] = executor
    return {**executors, **(extra_executors or {})}
