"""What the two email kinds share: their arguments, how they read, and their policy checks.

The arguments are strict, because email content is untrusted: bare addresses only (a
"Name <addr>" is reduced to the address), no line breaks in a subject, no extra fields (no
sneaked-in ``bcc``). The checks: a recipient outside the item's thread (a reply: blocked, the
classic injection "forward this to attacker@…"; a new email: a warning, writing to new people
being what it is for), denied or not-allowed domains, too many recipients, an oversized body,
attachments over the limit or outside the notes folder; recipients the human typed in while
editing are not "outside the thread". Three more look at where the addressee and the words
came from (the draft's :class:`~ambient.approvals.provenance.Provenance`):
``reply_to_mismatch``, a reply to someone other than the message's ``From`` (its ``Reply-To``,
or another domain than the sender's; a classic spoof); ``private_memory_in_draft``, an email to
anyone but the user that repeats 40+ characters of private text the run read (memory, or what
an MCP server's read-only tool returned); and
``copied_from_message``, an email other than a plain reply to the sender that repeats 80+
characters of the incoming message's own text (a "notice" the message dictates). The user's own
addresses (``user_email``, the accounts') are never "anyone but the user".
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import Field, field_validator

from ambient.approvals.kinds.base import (
    PRIVATE_TEXT,
    RATIONALE_HELP,
    ActionArguments,
    Kind,
    PolicyCheck,
    RuleAction,
)
from ambient.approvals.kinds.text_form import first_line
from ambient.approvals.provenance import (
    MESSAGE_PASSAGE_CHARS,
    Provenance,
    excerpt,
    shared_passages,
)
from ambient.core.paths import UnsafePath, resolve_inside

_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def normalize_address(value: str) -> str:
    """A bare address from "addr" or "Name <addr>"; raises ValueError for anything else."""
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("an address cannot contain line breaks")
    _name, address = parseaddr(value.strip())
    if not _ADDRESS.match(address):
        raise ValueError(f"not an email address: {value!r}")
    return address


def address_domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


class EmailAction(ActionArguments):
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    cc: list[str] = Field(default_factory=list, description="Copy addresses.")
    subject: str = Field(max_length=998, description="The subject line.")
    body: str = Field(description="The plain-text body.")
    attachments: list[str] = Field(
        default_factory=list,
        description="Paths of notes (relative to the notes folder) to attach; usually empty.",
    )

    @field_validator("to", "cc")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        return [normalize_address(value) for value in values]

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("a subject is one line")
        return value

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc]


# ---- what the model's drafts may say -------------------------------------------------------
# The shape of a bare address, for the schema the model sees (the offline model's grammar keeps to
# ``format: email``); the value itself is checked by the arguments, which also take "Name <a>".
ADDRESS_PATTERN = r"^[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"

Address = Annotated[
    str,
    Field(
        min_length=6,
        max_length=254,
        json_schema_extra={"format": "email", "pattern": ADDRESS_PATTERN},
        description="A bare email address, e.g. dana@example.com.",
    ),
]
AttachmentName = Annotated[
    str, Field(min_length=1, max_length=255, description="A note's path, e.g. 'meetings/q3.md'.")
]
BODY_HELP = "The plain-text body."
ATTACHMENTS_HELP = "Notes to attach (paths relative to the notes folder); almost always []."


class EmailDraft(EmailAction):
    """What both email kinds' drafts narrow (copies, body, attachments) and add (a rationale)."""

    cc: list[Address] = Field(default_factory=list, max_length=10, description="Copy addresses.")
    body: str = Field(min_length=1, description=BODY_HELP)
    attachments: list[AttachmentName] = Field(
        default_factory=list, max_length=5, description=ATTACHMENTS_HELP
    )
    rationale: str = Field(description=RATIONALE_HELP)


EMAIL_RULES: dict[str, RuleAction] = {
    "denied_domain": "block",
    "domain_not_allowed": "block",
    "too_many_recipients": "block",
    "body_too_large": "block",
    "attachments": "block",
    "note_path_outside": "block",  # an attachment's path
    "reply_to_mismatch": "warn",  # a reply to someone other than the message's From
    "private_memory_in_draft": "warn",  # private memory text, verbatim, to someone else
    "copied_from_message": "warn",  # the message's own text copied into a new email
}

EmailT = TypeVar("EmailT", bound=EmailAction)


class EmailKind(Kind[EmailT]):
    """An email: to, cc, subject, body and attachments, sent over SMTP."""

    in_thread: ClassVar[bool] = False  # a reply: threaded under the item, to its thread
    outside_thread_rule: ClassVar[str]  # the rule for a recipient who was not in the thread
    body_field = "body"
    body_ends_with_newline = False
    sends_email = True
    autonomy_by_default = True  # its scope is one contact (autonomy_scope)

    # ---- how it reads --------------------------------------------------------------------
    def concerns(self, args: dict[str, Any]) -> str:
        recipients = [str(entry) for entry in args.get("to", []) or []]
        if not recipients:
            return "(no recipient)"
        extra = len(recipients) - 1 + len(args.get("cc", []) or [])
        return recipients[0] + (f" +{extra}" if extra else "")

    def summary(self, args: dict[str, Any], fallback: str = "") -> str:
        return str(args.get("subject", "")) or first_line(str(args.get("body", "")))

    def headline(self, args: dict[str, Any]) -> str:
        return f"to {', '.join(args.get('to', []))}: {args.get('subject', '')}"

    def recipients(self, args: dict[str, Any]) -> set[str]:
        return {str(value).lower() for value in [*args.get("to", []), *args.get("cc", [])]}

    def outgoing_texts(self, args: dict[str, Any]) -> list[str]:
        return [value for key in ("subject", "body") if isinstance(value := args.get(key), str)]

    def autonomy_scope(self, args: dict[str, Any]) -> str | None:
        """The one contact it writes to; an email to several people never earns autonomy."""
        recipients = self.recipients(args)
        return next(iter(recipients)) if len(recipients) == 1 else None

    # ---- policy --------------------------------------------------------------------------
    def check(self, action: EmailT, check: PolicyCheck) -> None:
        check_email(
            action, check, in_thread=self.in_thread, outside_thread_rule=self.outside_thread_rule
        )


def check_email(
    action: EmailAction, check: PolicyCheck, *, in_thread: bool, outside_thread_rule: str
) -> None:
    """The email rules on one email (also a calendar reply's: its organizer, its comment);
    `in_thread`: a reply, threaded under the item; `outside_thread_rule`: the rule for a
    recipient who was not in the thread."""
    recipients = [address.lower() for address in action.recipients]
    thread = {address.lower() for address in check.thread_addresses}
    typed = {address.lower() for address in check.human_recipients}
    outside = sorted({a for a in recipients if a not in thread and a not in typed})
    if outside:
        check.add(outside_thread_rule, f"not in the thread: {', '.join(outside)}")
    allowed = [domain.lower().lstrip("@") for domain in check.policy.allowed_domains]
    denied = [domain.lower().lstrip("@") for domain in check.policy.denied_domains]
    for address in sorted(set(recipients)):
        domain = address_domain(address)
        if any(in_domain(domain, listed) for listed in denied):
            check.add("denied_domain", f"{address}: domain {domain} is denied")
        elif allowed and not any(in_domain(domain, listed) for listed in allowed):
            check.add("domain_not_allowed", f"{address}: domain {domain} not allowed")
    limit = check.policy.max_recipients
    if len(recipients) > limit:
        check.add(
            "too_many_recipients",
            f"{len(recipients)} recipients (policy.max_recipients = {limit})",
        )
    check.size(len(action.body), "body")
    _check_attachments(action.attachments, check)
    if check.provenance is not None:
        _check_provenance(action, check.provenance, check, in_thread=in_thread)


def _check_attachments(attachments: list[str], check: PolicyCheck) -> None:
    if not attachments:
        return
    policy = check.policy
    if len(attachments) > policy.max_attachments:
        check.add(
            "attachments",
            f"{len(attachments)} attachment(s) (policy.max_attachments = {policy.max_attachments})",
        )
    total = 0
    for relative in attachments:
        try:
            path = resolve_inside(check.notes_dir, relative, follow_links=False)
        except UnsafePath as error:
            check.add("note_path_outside", f"attachment {error}")
            continue
        if not path.is_file():
            check.add("attachments", f"{relative!r}: no such note to attach")
            continue
        total += path.stat().st_size
    limit = policy.max_attachment_bytes
    if total > limit:
        check.add(
            "attachments",
            f"attachments total {total} bytes (policy.max_attachment_bytes = {limit})",
        )


def _check_provenance(
    action: EmailAction, provenance: Provenance, check: PolicyCheck, *, in_thread: bool
) -> None:
    recipients = sorted({address.lower() for address in action.recipients})
    others = [address for address in recipients if address not in check.own_addresses]
    sender = provenance.sender
    typed = {address.lower() for address in check.human_recipients}
    elsewhere = [
        f"{address} ({why})"
        for address in others
        if address != sender
        and address not in typed
        and (why := _why_not_the_sender(address, provenance, reply=in_thread))
    ]
    if elsewhere:
        what = "the reply" if in_thread else "the email"
        to_whom = f"the sender {sender}" if sender else "a sender with a readable address"
        check.add(
            "reply_to_mismatch",
            f"{what} goes to {', '.join(elsewhere)}, not to {to_whom}",
        )
    copied = check.copied_private_text([action.subject, action.body]) if others else None
    if copied:
        check.add(
            "private_memory_in_draft",
            f"repeats {PRIVATE_TEXT} word for word ({copied}) to {', '.join(others)}",
        )
    # a plain reply: to the sender (and perhaps the user), no one else
    plain_reply = in_thread and sender in recipients and set(others) == {sender}
    if not plain_reply and provenance.message_passages:
        # a reply may quote the message: only the draft's own lines count as copied (memory
        # text counts quoted or not: quoting it back is still sending it)
        body = _unquoted(action.body) if in_thread else action.body
        own = [action.subject, body]
        passages = shared_passages(own, provenance.message_passages, MESSAGE_PASSAGE_CHARS)
        if passages:
            length = sum(len(passage) for passage in passages)
            check.add(
                "copied_from_message",
                f"repeats {length} characters of the incoming message's own text "
                f"({excerpt(passages[0])}); did the message dictate it?",
            )


def in_domain(domain: str, listed: str) -> bool:
    return domain == listed or domain.endswith("." + listed)


def _why_not_the_sender(address: str, provenance: Provenance, *, reply: bool) -> str | None:
    """Why a recipient other than the sender is suspect, or None when it is not.

    The message's Reply-To is suspect for every email kind (a new email to it is the same
    spoof as a reply); another domain than the sender's only for a reply, since writing to new
    people is what a new email is for (and `send_outside_thread` already says so)."""
    if address in provenance.reply_to:
        return "the message's Reply-To"
    if not reply or not provenance.sender:
        return None  # a new email, or a sender the item does not tell (its Reply-To still counts)
    domain, sender_domain = address_domain(address), address_domain(provenance.sender)
    if not (in_domain(domain, sender_domain) or in_domain(sender_domain, domain)):
        return "another domain than the sender's"
    return None


def _unquoted(body: str) -> str:
    """The body without its quoted lines (those starting with ">")."""
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith(">"))
