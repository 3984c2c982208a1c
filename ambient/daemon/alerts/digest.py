"""The digest: an email to the user's own address at set times, listing everything waiting.

It goes through the configured SMTP account (``[smtp]``, else the first IMAP account's), to
``digest_to`` or else that account's own address, as plain text. As a channel it sends any
alert as such an email (``ambient alerts test`` does); the dispatcher sends the digest proper
at each of the ``digest`` times, once each, even after a restart.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ambient.approvals.executors.mail import SendingAccount
from ambient.core.clock import Clock
from ambient.daemon.alerts.channel import Alert, AlertChannelError
from ambient.mail.smtp import InsecureLogin, connect

FOOTER = "Decide in the TUI (ambient tui) or with `ambient approvals list`."


class DigestChannel:
    name = "digest"

    def __init__(self, account: SendingAccount, to: str, clock: Clock) -> None:
        self.account = account
        self.to = to
        self.clock = clock

    def message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.account.from_address
        message["To"] = self.to
        message["Subject"] = alert.title
        message["Date"] = format_datetime(self.clock.now())
        domain = self.account.from_address.rpartition("@")[2] or "ambient.invalid"
        message["Message-ID"] = make_msgid("ambient-digest", domain=domain)
        message["Auto-Submitted"] = "auto-generated"  # no auto-reply answers it
        message.set_content("\n".join([*alert.lines, "", FOOTER]) + "\n")
        return message

    async def send(self, alert: Alert) -> None:
        await asyncio.to_thread(self._transmit, self.message(alert))

    def _transmit(self, message: EmailMessage) -> None:
        smtp = self.account.smtp
        where = f"{smtp.host}:{smtp.port}"
        try:
            client = connect(smtp, self.account.password)
        except InsecureLogin as error:
            raise AlertChannelError(f"digest: {error}") from None
        except smtplib.SMTPAuthenticationError as error:
            raise AlertChannelError(
                f"digest: SMTP {where}: login refused: {error.smtp_code}"
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise AlertChannelError(f"digest: SMTP {where}: {error}") from None
        try:
            client.send_message(message, self.account.from_address, [self.to])
        except (smtplib.SMTPException, OSError) as error:
            raise AlertChannelError(f"digest: SMTP {where} refused the digest: {error}") from None
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
