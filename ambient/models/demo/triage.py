"""The demo model's triage: plain rules over what a model reads, at most one reply to draft.

The rules, in order (see ``demo_model`` for the model around them, ``demo_reply`` for the
reply it drafts):

- a line of the user's memory that names the sender's address decides first: "ignore" means
  ignore; "never reply", "do not reply" or "do not draft" means notify (no draft); "high
  priority" raises the priority;
- bulk mail (a no-reply, newsletter or notification sender, or an "unsubscribe" in the body)
  is ignored;
- a direct question or request to the user (a sentence ending in "?", "could you …", "please
  confirm …", or a subject ending in "?") from a sender with an address is act, answered with
  ONE ``reply_email`` draft; a question to other people (the user not in To) is notify;
- anything else is notify.

Instructions inside the email are never followed; the reason says they were there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from typing import Literal

from pydantic_ai.messages import ModelMessage, ModelRequest, UserPromptPart

Decision = Literal["ignore", "notify", "act"]
Priority = Literal["low", "normal", "high"]

QUOTE_MAX_CHARS = 160
_EMAIL = re.compile(r"<untrusted_email\b[^>]*>\n(.*)</untrusted_email>", re.S)
_USER = re.compile(r"^The user is (.*?)\s*(?:<([^<>\s]+)>)?\.$", re.M)
_BULK_SENDER = re.compile(
    r"^(no-?reply|do-?not-?reply|noreply|news(letter)?s?|digest|marketing|mailer-daemon|"
    r"bounces?|notifications?|notify)\b",
    re.I,
)
_REQUEST = re.compile(
    r"^(?:(?:hi|hello|dear)\b[^,]{0,40},\s*)?(?:(?:could|can|would|will) (?:you|we)\b|"
    r"(?:please )?(?:let me know|confirm|get back to me)\b|"
    r"please (?:reply|send|share|review|advise)\b)",
    re.I,
)
_MEMORY_IGNORE = re.compile(r"\bignore\b", re.I)
_MEMORY_NO_REPLY = re.compile(
    r"\b(never reply|do not reply|don't reply|no reply|do not draft|don't draft|never draft)\b",
    re.I,
)
_URGENT = re.compile(r"\b(urgent|asap|overdue|deadline|immediately|today)\b", re.I)
_INJECTION = re.compile(
    r"\b(ignore|disregard) (all |any )?(the )?(previous|prior|above|earlier) instructions\b|"
    r"\bforward (every|all) (e-?mails?|mails?|messages?)\b",
    re.I,
)
_SUBJECT_PREFIX = re.compile(r"^((re|fwd?|aw|wg)\s*:\s*)+", re.I)


@dataclass(frozen=True)
class Email:
    """The framed email as the prompt shows it."""

    sender_name: str
    sender_address: str
    to: list[str]
    subject: str
    body: str
    is_email: bool = True

    @property
    def who(self) -> str:
        return self.sender_name or self.sender_address or "the sender"

    @property
    def first_name(self) -> str:
        name = self.sender_name.strip().strip('"')
        if "," in name:  # "Whitfield, Dana"
            name = name.split(",", 1)[1]
        words = name.split()
        return words[0] if words and "@" not in words[0] else ""

    @property
    def topic(self) -> str:
        return _SUBJECT_PREFIX.sub("", self.subject).strip() or "your message"


@dataclass(frozen=True)
class User:
    name: str = ""
    address: str = ""

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else ""


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str
    priority: Priority
    summary: str
    question: str = ""  # what the reply answers, when decision is act

    def triage_args(self) -> dict[str, str]:
        return {
            "decision": self.decision,
            "reason": self.reason,
            "priority": self.priority,
            "summary": self.summary,
        }


def clip(text: str, limit: int = QUOTE_MAX_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ---- reading what the model is shown -------------------------------------------------------
def read_email(messages: list[ModelMessage]) -> Email | None:
    """The email from the run's user prompt (the first one carrying the frame)."""
    for message in messages:
        if not isinstance(message, ModelRequest):
            continue
        for part in message.parts:
            if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                found = _EMAIL.search(part.content)
                if found is not None:
                    return _parse_email(found.group(1))
    return None


def _parse_email(framed: str) -> Email:
    head, _, body = framed.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.splitlines():
        name, separator, value = line.partition(":")
        if separator:
            headers.setdefault(name.strip().lower(), value.strip())
    name, address = parseaddr(headers.get("from", ""))
    to = [addr.lower() for _, addr in getaddresses([headers.get("to", "")]) if addr]
    return Email(
        sender_name=name,
        sender_address=address.lower() if "@" in address else "",
        to=to,
        subject=headers.get("subject", ""),
        body="" if body.strip() == "(empty body)" else body,
        is_email="kind" not in headers,
    )


def read_user(instructions: str | None) -> User:
    found = _USER.search(instructions or "")
    if found is None:
        return User()
    return User(name=found.group(1).strip(), address=(found.group(2) or "").lower())


# ---- deciding ------------------------------------------------------------------------------
def _sentences(body: str) -> list[str]:
    lines = [
        line.strip() for line in body.splitlines() if not line.lstrip().startswith((">", "[…"))
    ]
    text = " ".join(line for line in lines if line)
    return [part.strip() for part in re.split(r"(?<=[.?!])\s+", text) if part.strip()]


def find_question(email: Email) -> str:
    """The first question or request to the user in the message, or ""."""
    for sentence in _sentences(email.body):
        if sentence.endswith("?") or _REQUEST.search(sentence):
            return clip(sentence)
    return clip(email.subject) if email.subject.strip().endswith("?") else ""


def _memory_lines(memory: str, address: str) -> list[str]:
    if not address:
        return []
    return [
        clip(line.strip().lstrip("-* ").strip(), 240)
        for line in memory.splitlines()
        if address in line.lower()
    ]


def decide(email: Email, memory: str, user: User) -> Verdict:
    """The triage of one email, by the rules in the module docstring."""
    summary = clip(f"{email.who}: {email.subject or '(no subject)'}", 200)
    remembered = _memory_lines(memory, email.sender_address)
    urgent = any("high priority" in line.lower() for line in remembered) or bool(
        _URGENT.search(f"{email.subject}\n{email.body}")
    )
    priority: Priority = "high" if urgent else "normal"
    injected = (
        " The message also tells an assistant what to do (e.g. to forward mail); that was "
        "not followed."
        if _INJECTION.search(email.body)
        else ""
    )
    for line in remembered:
        if _MEMORY_IGNORE.search(line):
            reason = f'Your memory says: "{line}"'
            return Verdict("ignore", reason + injected, "low", summary)
        if _MEMORY_NO_REPLY.search(line):
            reason = f'Your memory says: "{line}" Shown to you; no reply drafted.'
            return Verdict("notify", reason + injected, priority, summary)
    local_part = email.sender_address.split("@", 1)[0]
    if _BULK_SENDER.search(local_part) or "unsubscribe" in email.body.lower():
        reason = f"Bulk mail from {email.sender_address or email.who} (a newsletter or an "
        reason += "automated sender); nothing for you to do."
        return Verdict("ignore", reason + injected, "low", summary)
    question = find_question(email)
    to_others = bool(user.address and email.to and user.address not in email.to)
    if question and email.sender_address and email.is_email and not to_others:
        reason = f'{email.first_name or email.who} asks: "{question}" A short reply is drafted '
        reason += "for you to approve."
        return Verdict("act", reason + injected, priority, summary, question)
    if question and to_others:
        reason = f"A question to others ({', '.join(email.to[:3])}); you are not in To."
    elif question:
        reason = "A question with no address to reply to; shown to you."
    else:
        reason = f"A message from {email.who} with no question or request for you; worth "
        reason += "reading, nothing to draft."
    return Verdict("notify", reason + injected, priority, summary)
