"""Fixtures for evals: a ledger of decided items, and models that follow a plan per subject."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import Engine

from ambient.approvals.tables import Approval, ApprovalStatus, Decision
from ambient.core.config import Settings
from ambient.core.db import write_session
from ambient.core.items import InboundItem, ItemState
from ambient.core.ledger import Ledger
from ambient.core.tables import Item
from tests.agent.scripted import user_prompt
from tests.conftest import FrozenClock
from tests.daemon.mail import email_bytes

STATUS = {
    Decision.APPROVED: ApprovalStatus.EXECUTED,
    Decision.EDITED: ApprovalStatus.EXECUTED,
    Decision.REJECTED: ApprovalStatus.REJECTED,
    Decision.IGNORED: ApprovalStatus.IGNORED,
    Decision.FEEDBACK: ApprovalStatus.FEEDBACK,
}


@dataclass(frozen=True)
class Mail:
    """A past item and the human's decision on it: a reply drafted (`drafted`) and decided
    (`decision`, with `edited` text for an edit), or a triage let stand."""

    subject: str
    triage: str = "act"
    sender: str = "Dana <dana@example.com>"
    body: str = "Hello Robin"
    drafted: str | None = None
    decision: Decision | None = None
    edited: str | None = None

    @property
    def address(self) -> str:
        return self.sender.rsplit("<", 1)[-1].rstrip(">")

    def reply(self, body: str) -> dict[str, object]:
        return {
            "to": [self.address],
            "cc": [],
            "subject": f"Re: {self.subject}",
            "body": body,
            "attachments": [],
        }


# Five decided items with known answers:
# 1 a reply approved as drafted; 2 a reply the human edited; 3 a newsletter ignored;
# 4 a reply the human rejected; 5 a notice they only read.
INBOX = [
    Mail("Meeting on Friday?", drafted="Friday at 10 works.", decision=Decision.APPROVED),
    Mail(
        "The Q3 numbers",
        sender="Lee <lee@example.org>",
        drafted="Sure.",
        decision=Decision.EDITED,
        edited="Yes, you will have them on Monday.",
    ),
    Mail("Weekly newsletter", triage="ignore", sender="News <news@example.net>"),
    Mail(
        "Send me your password",
        sender="Mallory <mallory@evil.example>",
        drafted="Here it is.",
        decision=Decision.REJECTED,
    ),
    Mail("Office closed on Monday", triage="notify", sender="Office <office@example.com>"),
]


def decide(engine: Engine, clock: FrozenClock, settings: Settings, mails: list[Mail]) -> list[int]:
    """The mails as decided items in the ledger (an hour apart); their item ids."""
    ledger = Ledger(engine, clock, settings.worker)
    ids = []
    for number, mail in enumerate(mails, start=1):
        raw = email_bytes(
            mail.subject, sender=mail.sender, body=mail.body, message_id=f"<m{number}@example.com>"
        )
        item_id = ledger.ingest(InboundItem("inbox", f"cur/{number}", raw)).item_id
        ids.append(item_id)
        with write_session(engine) as session:
            item = session.get(Item, item_id)
            assert item is not None
            item.state = ItemState.DONE
            item.triage_json = json.dumps(
                {"decision": mail.triage, "reason": "why", "priority": "normal", "summary": "s"}
            )
            session.add(item)
            if mail.drafted is not None:
                assert mail.decision is not None
                session.add(
                    Approval(
                        item_id=item_id,
                        kind="reply_email",
                        args_json=json.dumps(mail.reply(mail.drafted)),
                        edited_args_json=(
                            json.dumps(mail.reply(mail.edited)) if mail.edited else None
                        ),
                        created_at=clock.now(),
                        queued_at=clock.now(),
                        decided_at=clock.now(),
                        decision=mail.decision,
                        status=STATUS[mail.decision],
                    )
                )
        clock.advance(hours=1)
    return ids


@pytest.fixture
def inbox(engine: Engine, clock: FrozenClock, settings: Settings) -> list[int]:
    return decide(engine, clock, settings, INBOX)


_SUBJECT = re.compile(r"^Subject: (.*)$", re.MULTILINE)


def email_subject(messages: list[ModelMessage]) -> str:
    """The subject of the email the run is about (not of the examples shown before it)."""
    prompt = user_prompt(messages)
    email = prompt[prompt.rindex("<untrusted_email") :]
    found = _SUBJECT.search(email)
    assert found, email
    return found.group(1).strip()


Plan = Callable[[str, AgentInfo], tuple[str, str | None]]
"""(subject, info) -> (triage decision, reply body or None)."""


@dataclass
class PlannedModel:
    """A model that decides each message by its subject: a reply (one request, deferred) or
    a triage. It records each subject with the instructions (memory) and prompt it was shown."""

    plan: Plan
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # subject, instructions, prompt

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        subject = email_subject(messages)
        self.seen.append((subject, info.instructions or "", user_prompt(messages)))
        decision, reply = self.plan(subject, info)
        if reply is not None:
            return ModelResponse(
                parts=[
                    TextPart("a reply"),
                    ToolCallPart("reply_email", {"body": reply, "rationale": "asked"}),
                ]
            )
        args = {"decision": decision, "reason": "r", "summary": "s", "priority": "normal"}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    @property
    def model(self) -> FunctionModel:
        return FunctionModel(self)


def ignores_everything(subject: str, info: AgentInfo) -> tuple[str, str | None]:
    return "ignore", None


def as_the_human_did(subject: str, info: AgentInfo) -> tuple[str, str | None]:
    """Drafts the text the human approved (after edits), and again the reply they rejected."""
    for mail in INBOX:
        if mail.subject == subject:
            text = mail.edited or mail.drafted
            return (mail.triage, text) if text is not None else (mail.triage, None)
    raise AssertionError(subject)
