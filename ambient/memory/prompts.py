"""What the reflection agent is told: the correction, the draft it corrects, and the memory.

The item's subject and sender come from outside and are labelled as untrusted data; the body
of the email is not shown at all (the human's correction, not the email, is what memory
learns from).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from ambient.approvals.audit import args_diff
from ambient.approvals.tables import Approval, Decision
from ambient.core.config import Settings
from ambient.core.db import read_session
from ambient.core.diffs import text_diff
from ambient.core.review import Overturn
from ambient.core.tables import Item
from ambient.memory.store import MemoryStore
from ambient.memory.tables import MemoryReproposal

FIELD_MAX_CHARS = 4_000
FILE_MAX_CHARS = 12_000


def _clip(text: str, limit: int = FIELD_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[… cut at {limit} characters]"


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def describe_args(args: dict[str, Any]) -> str:
    return "\n".join(f"{key}: {_clip(_value(value))}" for key, value in args.items())


def describe_edit(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Field by field what the human changed; long text fields as a line diff."""
    parts: list[str] = []
    for key, change in args_diff(before, after).items():
        old, new = change["draft"], change["approved"]
        if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
            lines = text_diff(old, new, ("draft", "human"), context=1)
            parts.append(f"{key} (line diff, - draft / + human):\n" + _clip(lines))
        else:
            parts.append(f"{key}: draft {_clip(_value(old))!r} -> human {_clip(_value(new))!r}")
    return "\n".join(parts) or "(no visible change)"


def _decision_text(approval: Approval) -> str:
    message = (approval.decision_message or "").strip()
    if approval.decision == Decision.EDITED and approval.edited_args is not None:
        return "The human EDITED the draft, then approved their version. What they changed:\n" + (
            describe_edit(approval.args, approval.edited_args)
        )
    if approval.decision == Decision.FEEDBACK:
        return f"The human sent the draft BACK WITH FEEDBACK:\n<human>{_clip(message)}</human>"
    if approval.decision == Decision.REJECTED:
        said = f"Their reason:\n<human>{_clip(message)}</human>" if message else "No reason given."
        return f"The human REJECTED the draft. {said}"
    if approval.decision == Decision.ANSWERED:  # a fact the memory did not hold: worth keeping
        return f"The human ANSWERED the question:\n<human>{_clip(message)}</human>"
    decided = approval.decision.value if approval.decision else approval.status.value
    return f"The human decided: {decided}. {message}".strip()


def _drafted(approval: Approval) -> str:
    if approval.decision == Decision.ANSWERED:
        return f"asked the user a question instead of guessing ({approval.kind})"
    return f"drafted a {approval.kind} action"


def _item_text(engine: Engine, item_id: int) -> str:
    with read_session(engine) as session:
        item = session.get(Item, item_id)
    if item is None:
        return "(the item is no longer in the ledger)"
    return (
        "<untrusted_email_metadata>\n"
        f"From: {_clip(item.sender, 300)}\nSubject: {_clip(item.subject, 300)}\n"
        "</untrusted_email_metadata>"
    )


def decision_prompt(
    engine: Engine, approval: Approval, store: MemoryStore, settings: Settings
) -> str:
    memory = store.prompt_context(
        settings.memory.reflection_budget_tokens, settings.memory.inline_file_max_tokens
    )
    return (
        f"A correction to learn from (approval {approval.id}, item {approval.item_id}).\n\n"
        f"The email the draft was for:\n{_item_text(engine, approval.item_id)}\n\n"
        f"The assistant {_drafted(approval)}:\n<draft>\n"
        f"{describe_args(approval.args)}\n</draft>\n"
        f"Its rationale: {_clip(approval.rationale, 1000) or '(none)'}\n\n"
        f"{_decision_text(approval)}\n\n{memory}"
    )


def overturn_prompt(
    engine: Engine, item_id: int, overturn: Overturn, store: MemoryStore, settings: Settings
) -> str:
    """The human overturned the assistant's decision to ignore an item: they wanted action."""
    memory = store.prompt_context(
        settings.memory.reflection_budget_tokens, settings.memory.inline_file_max_tokens
    )
    said = f"Their words:\n<human>{_clip(overturn.note)}</human>" if overturn.note else "No words."
    return (
        f"A correction to learn from (item {item_id}).\n\n"
        f"The email:\n{_item_text(engine, item_id)}\n\n"
        f"The assistant decided to {overturn.decision.upper()} it (nothing for the user).\n"
        f"Its reason: {_clip(overturn.reason, 1000) or '(none)'}\n\n"
        "The human OVERTURNED that decision: they want this kind of mail acted on, not "
        f"ignored. {said}\n\n{memory}"
    )


def _file_text(store: MemoryStore, file: str) -> str:
    try:
        text = store.read(file)
    except Exception as error:  # noqa: BLE001 - shown to the model as it is
        return f"(cannot read {file}: {error})"
    return f'<memory_file name="{file}">\n{_clip(text, FILE_MAX_CHARS)}</memory_file>'


def revision_prompt(approval: Approval, store: MemoryStore) -> str:
    args = approval.args
    file = str(args.get("file", ""))
    return (
        f"You proposed this change to {file} (reason: {args.get('reason', '')}):\n"
        f"<proposed_diff>\n{args.get('diff', '')}</proposed_diff>\n\n"
        "The human sent it back with feedback:\n"
        f"<human>{_clip((approval.decision_message or '').strip())}</human>\n\n"
        "Propose a revised change that follows the feedback, as a diff against the file's "
        "current text below, or no_memory_change if they do not want one.\n\n"
        f"{_file_text(store, file)}"
    )


def reproposal_prompt(row: MemoryReproposal, store: MemoryStore) -> str:
    return (
        f"A change to {row.file} was approved but no longer applies: the user edited the file "
        f"by hand since it was proposed ({_clip(row.conflict, 500)}).\n"
        f"The change (reason: {row.reason}):\n<approved_diff>\n{row.diff}</approved_diff>\n\n"
        "Propose the same change again as a diff against the file's current text below, "
        "keeping the user's edit intact. If their edit already covers the change or "
        "contradicts it, answer no_memory_change.\n\n"
        f"{_file_text(store, row.file)}"
    )
