"""Action kinds: one module per kind, holding everything about it, and the registry of them.

- :mod:`~ambient.approvals.kinds.base` — what a kind is (:class:`Kind`), :class:`ActionKind`
- :mod:`~ambient.approvals.kinds.registry` — :data:`KINDS`, and the executors built from it
- :mod:`~ambient.approvals.kinds.text_form` — the one text form a human edits a draft in
- :mod:`~ambient.approvals.kinds.email` — what the two email kinds share
- :mod:`~ambient.approvals.kinds.mailbox` — what the four mailbox kinds share
- one module per kind: ``reply_email``, ``send_email``, ``write_note``, ``call_webhook``,
  ``memory_update``, ``mcp_call`` (a tool of an MCP server; drafted through the servers' tools),
  ``ask_user`` (a question to the user: answered, not approved), ``calendar_reply`` (an
  answer to a calendar invitation, sent as an iTIP reply), and the mailbox kinds acting on the
  item's own message: ``move_message`` (archive, or move to a folder), ``flag_message``,
  ``tag_message`` (a keyword), ``mark_read``

Adding a kind is one module here (a :class:`Kind` subclass and its instance as ``KIND``: the
registry finds it) and its tests; nothing outside this package changes. A kind can also be
registered at run time (:meth:`KindRegistry.registered`).
"""

from ambient.approvals.kinds.base import (
    ActionArguments,
    ActionKind,
    DraftItem,
    DraftToFix,
    ExecutorParts,
    Finding,
    Kind,
    PolicyCheck,
    RuleAction,
)
from ambient.approvals.kinds.registry import KINDS, KindRegistry, build_executors

__all__ = [
    "KINDS",
    "ActionArguments",
    "ActionKind",
    "DraftItem",
    "DraftToFix",
    "ExecutorParts",
    "Finding",
    "Kind",
    "KindRegistry",
    "PolicyCheck",
    "RuleAction",
    "build_executors",
]
