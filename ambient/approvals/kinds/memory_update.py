"""memory_update: a small diff to one memory file, learned from the human's decisions.

The memory Reflector drafts it (it is not one of the agent's tools), and it learns from a
decision rather than acting on the item: it neither holds its item open nor goes stale when the
thread moves on. Its executor lives with the memory (``ambient.memory.executor``, a layer above
approvals) and is supplied by whoever builds the outbox: the commit it makes names the
idempotency key, so a repeat after a crash finds the commit and writes nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ambient.approvals.kinds.base import ActionArguments, ActionKind, Kind, PolicyCheck
from ambient.core.paths import UnsafePath, check_relative


class MemoryUpdate(ActionArguments):
    file: str = Field(min_length=1, max_length=500, description="The memory file, relative.")
    diff: str = Field(description="A unified diff against that file.")
    base_sha256: str = Field(min_length=64, max_length=64, description="SHA-256 of the base.")
    reason: str = Field(max_length=2000, description="Why this change.")


class MemoryUpdateKind(Kind[MemoryUpdate]):
    name = ActionKind.MEMORY_UPDATE
    label = "memory"
    order = 50
    arguments = MemoryUpdate
    body_field = "diff"
    body_is_diff = True
    rules = {"memory_path_outside": "block"}
    holds_item = False
    thread_bound = False

    def approved(self, args: dict[str, Any]) -> str:
        return f"memory {args['file']}"

    def concerns(self, args: dict[str, Any]) -> str:
        return str(args.get("file", ""))

    def summary(self, args: dict[str, Any], fallback: str = "") -> str:
        return str(args.get("reason", ""))

    def headline(self, args: dict[str, Any]) -> str:
        return f"memory {args.get('file', '')}: {args.get('reason', '')}"

    def autonomy_scope(self, args: dict[str, Any]) -> None:
        """None: what the agent knows of the user changes only with the user's yes."""
        return None

    def check(self, action: MemoryUpdate, check: PolicyCheck) -> None:
        try:
            check_relative(action.file)
        except UnsafePath as error:
            check.add("memory_path_outside", str(error))


KIND = MemoryUpdateKind()
