"""An SMTP connection as the account's settings ask for: TLS, STARTTLS, or plain on loopback."""

from __future__ import annotations

import smtplib
import ssl

from ambient.core.config import SmtpSettings
from ambient.core.errors import AmbientError


class InsecureLogin(AmbientError):
    """The settings would send the password in clear text to another host."""


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def connect(settings: SmtpSettings, password: str | None) -> smtplib.SMTP:
    if settings.username and settings.security == "none" and settings.host not in LOOPBACK:
        raise InsecureLogin(
            f"smtp {settings.host}: refusing to send the password unencrypted "
            '(security = "none"); use "starttls" or "tls"'
        )
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if settings.security == "tls":
        client = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_seconds, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
    try:
        client.ehlo()
        if settings.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if settings.username:
            client.login(settings.username, password or "")
    except BaseException:
        client.close()
        raise
    return client
