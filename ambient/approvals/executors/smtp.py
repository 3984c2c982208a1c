"""The email kinds over SMTP (a reply threaded under its item), exactly once as far as SMTP allows.

SMTP has no way to ask a server "did you get this?", so the executor keeps a durable delivery
stage (:mod:`ambient.approvals.journal`) around the one step whose outcome can be lost:

1. connect, MAIL FROM, RCPT TO — a failure here sent nothing: retried with backoff;
2. stage ``sending`` is committed, then DATA; the server's 250 is followed at once by stage
   ``sent`` (a 4xx/5xx answer to DATA sent nothing: the stage is cleared);
3. a copy goes to the account's Sent folder (IMAP; searched by Message-ID first, so never twice).

After a crash, the outbox runs the approval again with the same key (and so the same
Message-ID): stage ``sent`` → not sent again, only the Sent copy is completed; no stage → sent
normally. Stage ``sending`` means the process died (or the connection broke) while the server
was receiving the message: if the account has a Sent folder holding that Message-ID (servers
that file sent mail themselves) it counts as sent; otherwise ambient **does not send it again**
— the action goes dead with "delivery uncertain", the human checks, and either
``ambient approvals delivered ID`` closes it as sent (it arrived) or ``ambient approvals retry
ID`` sends it (same Message-ID). That window is at-most-once: it spans only the DATA transfer,
and it is shown, never silent.

What is sent is :meth:`SmtpExecutor.compose`'s; a kind that sends another email (calendar_reply:
an iTIP reply) subclasses the executor and composes its own, and is sent the same way.
"""

from __future__ import annotations

import asyncio
import email.policy
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from sqlalchemy import Engine

from ambient.approvals.executors import (
    DeliveryUncertain,
    ExecutionError,
    ExecutionResult,
    PermanentExecutionError,
)
from ambient.approvals.executors.mail import (
    SendingAccount,
    build_email,
    read_attachments,
    resolve_account,
)
from ambient.approvals.journal import SENDING, SENT, DeliveryJournal
from ambient.approvals.kinds import KINDS, ExecutorParts
from ambient.approvals.kinds.email import EmailAction, EmailKind
from ambient.approvals.tables import Approval
from ambient.core.clock import Clock
from ambient.core.config import ImapSourceSettings, Secrets, Settings
from ambient.core.db import read_session
from ambient.core.errors import AmbientError, NotFoundError
from ambient.core.message import ParsedMessage, UnparseableMessage, parse_message
from ambient.core.tables import Item, ItemContent
from ambient.mail.sent import SentFolder, imap_sent_folder
from ambient.mail.smtp import InsecureLogin, connect

SentFolderFactory = Callable[[ImapSourceSettings, str | None], SentFolder | None]


def _answer(step: str, code: int, reply: bytes | str) -> ExecutionError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    message = f"SMTP {step} refused: {code} {text.strip()[:300]}"
    return PermanentExecutionError(message) if code >= 500 else ExecutionError(message)


@dataclass(frozen=True)
class Outgoing:
    """An email ready to send: the message, its recipients and what the result adds."""

    message: EmailMessage
    to: list[str]
    cc: list[str]
    details: dict[str, object] = field(default_factory=dict)


def build_smtp_executor(parts: ExecutorParts) -> SmtpExecutor:
    """The executor of both email kinds (one per process: they share it)."""
    journal = DeliveryJournal(parts.engine, parts.clock)
    return SmtpExecutor(parts.engine, parts.clock, parts.settings, parts.secrets, journal)


class SmtpExecutor:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        settings: Settings,
        secrets: Secrets,
        journal: DeliveryJournal,
        sent_folder: SentFolderFactory = imap_sent_folder,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self.secrets = secrets
        self.journal = journal
        self.sent_folder = sent_folder

    async def execute(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        source, raw = await asyncio.to_thread(self._item, approval.item_id)
        account = resolve_account(self.settings, self.secrets, source)
        outgoing = self.compose(approval, raw, account, idempotency_key)
        return await self._deliver(approval, idempotency_key, account, outgoing)

    def compose(
        self, approval: Approval, raw: bytes | None, account: SendingAccount, idempotency_key: str
    ) -> Outgoing:
        """The email an approval of an email kind sends (a reply: threaded under `raw`); a
        subclass composes another kind's (calendar_reply: an iTIP reply)."""
        kind = KINDS.of(approval.kind)
        action = kind.parse(approval.effective_args)
        assert isinstance(kind, EmailKind) and isinstance(action, EmailAction)
        original = self.original(raw) if kind.in_thread else None
        attachments = read_attachments(self.settings.notes_dir, action.attachments)
        message = build_email(
            action,
            idempotency_key=idempotency_key,
            account=account,
            sender_name=self.settings.user_name,
            now=self.clock.now(),
            original=original,
            attachments=attachments,
        )
        return Outgoing(message, action.to, action.cc)

    async def _deliver(
        self, approval: Approval, idempotency_key: str, account: SendingAccount, outgoing: Outgoing
    ) -> ExecutionResult:
        """Send it once (the delivery stage), then file the Sent copy."""
        message = outgoing.message
        message_id = str(message["Message-ID"])
        sent_bytes = message.as_bytes(policy=email.policy.SMTP)
        folder = None
        if account.imap is not None:
            folder = self.sent_folder(account.imap, self.secrets.get(account.imap.password_env))
        stage = await asyncio.to_thread(self.journal.stage, idempotency_key)
        recovered = None
        if stage == SENDING:
            if folder is None or not await self._in_sent(folder, message_id):
                raise DeliveryUncertain(
                    f"delivery uncertain: ambient stopped while the SMTP server was receiving "
                    f"{message_id}; it will not send it again on its own — check the recipient "
                    f"or your Sent folder, then `ambient approvals delivered {approval.id}` if "
                    f"it arrived, or `ambient approvals retry {approval.id}` to send it"
                )
            await asyncio.to_thread(self.journal.mark, idempotency_key, SENT)
            recovered = "found in the Sent folder"
        elif stage == SENT:
            recovered = "already accepted by the server"
        else:
            recipients = [*outgoing.to, *outgoing.cc]
            await asyncio.to_thread(
                self._transmit, account, recipients, sent_bytes, idempotency_key
            )
        details: dict[str, object] = {
            "message_id": message_id,
            "to": outgoing.to,
            "cc": outgoing.cc,
            "subject": str(message["Subject"]),
            "in_reply_to": message["In-Reply-To"],
            **outgoing.details,
        }
        if recovered:
            details["recovered"] = recovered
        if folder is not None:
            details["sent_copy"] = await self._save_copy(folder, sent_bytes)
        return ExecutionResult(f"sent {message_id} to {', '.join(outgoing.to)}", details)

    def _item(self, item_id: int) -> tuple[str, bytes | None]:
        """The item's source (whose account sends) and its raw bytes (what a reply threads to)."""
        with read_session(self.engine) as session:
            item = session.get(Item, item_id)
            content = session.get(ItemContent, item_id)
        if item is None:
            raise NotFoundError(f"item {item_id} does not exist")
        return item.source, content.raw if content is not None else None

    def original(self, raw: bytes | None) -> ParsedMessage:
        """The item's message, parsed (what a reply threads to)."""
        if raw is None:
            raise PermanentExecutionError("cannot reply: the item's message is not stored")
        try:
            return parse_message(raw)
        except UnparseableMessage as error:
            raise PermanentExecutionError(
                f"cannot reply: the item is not an email ({error})"
            ) from None

    async def _in_sent(self, folder: SentFolder, message_id: str) -> bool:
        try:
            return await folder.contains(message_id)
        except AmbientError as error:  # the Sent folder cannot be read now: try again later
            raise ExecutionError(f"checking the Sent folder for {message_id}: {error}") from error

    async def _save_copy(self, folder: SentFolder, outgoing: bytes) -> str:
        """The mail has gone; a Sent copy that fails is reported in the result, not retried."""
        try:
            return await folder.save(outgoing, self.clock.now())
        except (AmbientError, OSError, ValueError) as error:
            return f"failed: {error}"

    def _transmit(
        self, account: SendingAccount, recipients: list[str], outgoing: bytes, key: str
    ) -> None:
        try:
            client = connect(account.smtp, account.password)
        except InsecureLogin as error:
            raise PermanentExecutionError(str(error)) from None
        except smtplib.SMTPAuthenticationError as error:
            raise PermanentExecutionError(
                f"SMTP {account.smtp.host}: login refused: {error.smtp_code}"
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise ExecutionError(f"SMTP {account.smtp.host}:{account.smtp.port}: {error}") from None
        try:
            self._envelope(client, account.from_address, recipients)
            self.journal.mark(key, SENDING)
            try:
                code, reply = client.data(outgoing)
            except smtplib.SMTPDataError as error:  # DATA itself refused: nothing was sent
                self.journal.clear(key)
                raise _answer("DATA", error.smtp_code, error.smtp_error) from None
            except (smtplib.SMTPException, OSError) as error:
                raise DeliveryUncertain(
                    f"delivery uncertain: the connection failed while the server was receiving "
                    f"the message ({type(error).__name__}: {error}); ambient will not send it "
                    "again on its own — check, then `ambient approvals delivered` if it arrived, "
                    "or `ambient approvals retry` to send it"
                ) from None
            if code != 250:
                self.journal.clear(key)
                raise _answer("DATA", code, reply)
            self.journal.mark(key, SENT)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def _envelope(self, client: smtplib.SMTP, sender: str, recipients: list[str]) -> None:
        """MAIL FROM and RCPT TO; every recipient must be accepted or nothing is sent."""
        try:
            code, reply = client.mail(sender)
            if code != 250:
                raise _answer("MAIL FROM", code, reply)
            refused = []
            for recipient in recipients:
                code, reply = client.rcpt(recipient)
                if code not in (250, 251):
                    refused.append((recipient, code, reply))
            if refused:
                client.rset()
                recipient, code, reply = refused[0]
                raise _answer(f"RCPT TO {recipient}", code, reply)
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise ExecutionError(f"SMTP connection lost before sending: {error}") from None
