"""calendar_reply: accept, decline or tentatively accept the item's calendar invitation, as an
iTIP reply (RFC 5546 ``METHOD:REPLY``) emailed to its organizer once the human approves it.

The agent gives the response and, if it wants, a comment; the organizer comes from the invite,
never from the model, and so does everything the reply says of the event: the executor builds
the REPLY from the item's stored request (:mod:`ambient.core.itip`: its UID and SEQUENCE, the
user's ATTENDEE line with the new PARTSTAT, a DTSTAMP from the clock) and sends it threaded
under the invite (In-Reply-To, References) as a text/plain part and a ``text/calendar;
method=REPLY`` part. Only an invitation (``METHOD:REQUEST``, not cancelled) can be answered.

The policy gate's email rules apply as to a reply: the organizer is its one recipient, the
comment its text. An organizer on another domain than the sender's (or the message's Reply-To)
is ``reply_to_mismatch``'s warning; one the message's headers do not name at all,
``organizer_outside_thread``'s. Exactly once as the email kinds are: the SMTP executor's
delivery stage, a Message-ID derived from the idempotency key, the Sent-folder check.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from ambient.approvals.executors import Executor, PermanentExecutionError
from ambient.approvals.executors.mail import SendingAccount, new_email
from ambient.approvals.executors.smtp import Outgoing, SmtpExecutor
from ambient.approvals.journal import DeliveryJournal
from ambient.approvals.kinds.base import (
    RATIONALE_HELP,
    ActionArguments,
    ActionKind,
    DraftItem,
    DraftToFix,
    ExecutorParts,
    Kind,
    PolicyCheck,
)
from ambient.approvals.kinds.email import EMAIL_RULES, EmailAction, check_email, normalize_address
from ambient.approvals.kinds.text_form import first_line
from ambient.approvals.policy import user_addresses
from ambient.approvals.tables import Approval
from ambient.core.calendar import CalendarInvite
from ambient.core.calendar_text import what_text
from ambient.core.config import Settings
from ambient.core.itip import Response, itip_reply, reply_subject, reply_text

_WORDS = {"accept": "accept", "decline": "decline", "tentative": "tentatively accept"}


class CalendarReply(ActionArguments):
    response: Response = Field(description="accept, decline or tentative.")
    organizer: str = Field(description="Who the reply goes to: the invitation's organizer.")
    comment: str = Field(
        default="", max_length=2000, description="A short note to the organizer; usually empty."
    )

    @field_validator("organizer")
    @classmethod
    def _address(cls, value: str) -> str:
        return normalize_address(value).lower()


class CalendarReplyDraft(CalendarReply):
    """Your answer to the invitation, and an optional comment (it goes to its organizer)."""

    organizer: SkipJsonSchema[str] = ""
    rationale: str = Field(description=RATIONALE_HELP)


def unanswerable(invite: CalendarInvite | None) -> str | None:
    """Why `invite` cannot be answered (none, cancelled, no organizer), or None."""
    if invite is None:
        return "the message holds no calendar invitation"
    if not invite.answerable:
        what = "it names no organizer" if not invite.organizer else what_text(invite)
        return f"its calendar part cannot be answered ({what})"
    return None


class CalendarReplyKind(Kind[CalendarReply]):
    name = ActionKind.CALENDAR_REPLY
    label = "calendar"
    order = 15
    arguments = CalendarReply
    draft = CalendarReplyDraft
    description = (
        "Answer the calendar invitation in the message (accept, decline or tentative) with a "
        "calendar reply to its organizer. Runs only after the user approves."
    )
    prompt_hint = "accept, decline or tentative for a calendar invitation in the message"
    body_field = "comment"
    body_ends_with_newline = False
    sends_email = True
    rules = {**EMAIL_RULES, "organizer_outside_thread": "warn"}

    # ---- the agent's side ----------------------------------------------------------------
    def check_draft(self, draft: CalendarReply, item: DraftItem, settings: Settings) -> None:
        problem = unanswerable(item.calendar)
        if problem is not None:
            raise DraftToFix(f"{problem}: there is nothing to accept or decline")

    def from_draft(self, draft: CalendarReply, item: DraftItem) -> dict[str, Any]:
        invite = item.calendar
        organizer = invite.organizer if invite is not None else ""
        return {"response": draft.response, "organizer": organizer, "comment": draft.comment}

    def approved(self, args: dict[str, Any]) -> str:
        return f"{args['response']} the invitation, reply to {args['organizer']}"

    # ---- how it reads --------------------------------------------------------------------
    def concerns(self, args: dict[str, Any]) -> str:
        return str(args.get("organizer", "")) or "(no organizer)"

    def summary(self, args: dict[str, Any], fallback: str = "") -> str:
        response = str(args.get("response", ""))
        said = first_line(str(args.get("comment", "")))
        return f"{_WORDS.get(response, response)} the invitation" + (f": {said}" if said else "")

    def headline(self, args: dict[str, Any]) -> str:
        return f"to {args.get('organizer', '')}: {self.summary(args)}"

    def recipients(self, args: dict[str, Any]) -> set[str]:
        organizer = str(args.get("organizer", "")).lower()
        return {organizer} if organizer else set()

    def outgoing_texts(self, args: dict[str, Any]) -> list[str]:
        comment = args.get("comment")
        return [comment] if isinstance(comment, str) and comment else []

    def autonomy_scope(self, args: dict[str, Any]) -> str | None:
        """The organizer it answers (named in ``autonomy.kinds`` to earn autonomy at all)."""
        return str(args.get("organizer", "")).lower() or None

    # ---- policy and execution ------------------------------------------------------------
    def check(self, action: CalendarReply, check: PolicyCheck) -> None:
        email = EmailAction(to=[action.organizer], subject="", body=action.comment)
        check_email(email, check, in_thread=True, outside_thread_rule="organizer_outside_thread")

    def build_executor(self, parts: ExecutorParts) -> Executor:
        return parts.shared(build_calendar_executor)


def build_calendar_executor(parts: ExecutorParts) -> CalendarReplyExecutor:
    journal = DeliveryJournal(parts.engine, parts.clock)
    return CalendarReplyExecutor(parts.engine, parts.clock, parts.settings, parts.secrets, journal)


class CalendarReplyExecutor(SmtpExecutor):
    """The SMTP executor, composing an iTIP reply to the item's invitation."""

    def compose(
        self, approval: Approval, raw: bytes | None, account: SendingAccount, idempotency_key: str
    ) -> Outgoing:
        action = KIND.parse(approval.effective_args)
        original = self.original(raw)
        invite = original.calendar
        problem = unanswerable(invite)
        if invite is None or problem is not None:
            why = "; ".join([problem or "", *original.part_problems])
            raise PermanentExecutionError(f"cannot answer the invitation: {why}")
        own = user_addresses(self.settings) | {account.from_address.lower()}
        listed = invite.attendee(own)  # the user's line in the request, if it has one
        attendee = listed.address if listed is not None else account.from_address.lower()
        name = self.settings.user_name or ""
        now = self.clock.now()
        calendar = itip_reply(
            invite,
            action.response,
            attendee=attendee,
            attendee_name=name,
            comment=action.comment,
            now=now,
        )
        message = new_email(
            to=[action.organizer],
            cc=[],
            subject=reply_subject(invite, action.response),
            idempotency_key=idempotency_key,
            account=account,
            sender_name=self.settings.user_name,
            now=now,
            original=original,
        )
        who = name or (listed.label if listed is not None else "") or attendee
        message.set_content(reply_text(invite, action.response, who, action.comment))
        message.add_alternative(calendar, subtype="calendar", params={"method": "REPLY"})
        details: dict[str, object] = {
            "response": action.response,
            "uid": invite.uid,
            "sequence": invite.sequence,
        }
        return Outgoing(message, [action.organizer], [], details)


KIND = CalendarReplyKind()
