"""Opening an IMAP connection for one account, and saying clearly why it failed.

IMAPClient is blocking: everything here runs in a worker thread. Every failure becomes a
:class:`SourceError` naming the account and the cause a user can act on (wrong password, host
unreachable, certificate not trusted); the password never appears in a message or a log line.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import socket
import ssl

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from ambient.core.config import ImapSourceSettings
from ambient.core.errors import SourceError

log = logging.getLogger(__name__)


class ConnectionLost(ConnectionError):
    """The server ended the connection (BYE) or closed it."""


CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, imaplib.IMAP4.abort, EOFError)
"""Errors that mean the connection is gone (reconnecting may help), not that a command failed."""

IMAP_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, imaplib.IMAP4.error)
"""Any failure talking to the server: the connection's, or a command the server refused."""


def account_label(settings: ImapSourceSettings) -> str:
    return f"imap {settings.name} ({settings.username} at {settings.host}:{settings.port})"


def ssl_context(settings: ImapSourceSettings) -> ssl.SSLContext:
    cafile = str(settings.ca_file.expanduser()) if settings.ca_file is not None else None
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as error:
        raise SourceError(
            f"{account_label(settings)}: ca_file {settings.ca_file} cannot be read: {error}"
        ) from error
    if not settings.verify_certificates:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _server_text(error: BaseException) -> str:
    text = str(error)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text.strip() or type(error).__name__


def describe_failure(settings: ImapSourceSettings, error: BaseException) -> str:
    """One line a user can act on, for any error opening or using the connection."""
    label = account_label(settings)
    timeout = settings.timeout_seconds
    if isinstance(error, LoginError):
        return f"{label}: login failed (check the username and {settings.password_env}): " + (
            _server_text(error)
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = error.verify_message or _server_text(error)
        return (
            f"{label}: the server's TLS certificate is not trusted ({reason}); "
            "set ca_file to its CA, or fix the host name"
        )
    if isinstance(error, ssl.SSLError):
        return f"{label}: TLS handshake failed: {error.reason or _server_text(error)}"
    if isinstance(error, ConnectionLost):
        return f"{label}: connection dropped: {error}"
    if isinstance(error, socket.gaierror):
        return f"{label}: host name {settings.host!r} cannot be resolved: {error.strerror}"
    if isinstance(error, ConnectionRefusedError):
        return f"{label}: connection refused (is the port right and the server up?)"
    if isinstance(error, TimeoutError):
        return f"{label}: no answer within {timeout:g} s (unreachable host or firewall?)"
    if isinstance(error, OSError):
        return f"{label}: cannot reach the server: {error.strerror or _server_text(error)}"
    if isinstance(error, imaplib.IMAP4.abort):
        return f"{label}: connection dropped: {_server_text(error)}"
    if isinstance(error, IMAPClientError | imaplib.IMAP4.error):
        return f"{label}: server refused: {_server_text(error)}"
    return f"{label}: {type(error).__name__}: {_server_text(error)}"


def connect(settings: ImapSourceSettings, password: str | None) -> IMAPClient:
    """A logged-in client, or SourceError with the reason."""
    if not password:
        raise SourceError(
            f"{account_label(settings)}: the variable {settings.password_env} holding the "
            "password is not set (environment or .env)"
        )
    client: IMAPClient | None = None
    try:
        context = ssl_context(settings) if settings.security != "none" else None
        client = IMAPClient(
            settings.host,
            port=settings.port,
            ssl=settings.security == "tls",
            ssl_context=context,
            timeout=settings.timeout_seconds,
        )
        if settings.security == "starttls":
            if not client.has_capability("STARTTLS"):
                raise SourceError(
                    f"{account_label(settings)}: the server does not offer STARTTLS; "
                    'use security = "tls" on its TLS port'
                )
            client.starttls(context)
        client.login(settings.username, password)
        client.normalise_times = False  # INTERNALDATE as an aware datetime
        return client
    except SourceError:
        _discard(client)
        raise
    except (IMAPClientError, imaplib.IMAP4.error, OSError, EOFError) as error:
        _discard(client)
        raise SourceError(describe_failure(settings, error)) from error


def _discard(client: IMAPClient | None) -> None:
    if client is None:
        return
    with contextlib.suppress(Exception):
        client.shutdown()


def disconnect(client: IMAPClient | None) -> None:
    """Log out politely if the connection still works; never raises."""
    if client is None:
        return
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - the connection may already be gone
        _discard(client)


def interrupt(client: IMAPClient | None) -> None:
    """Wake a thread blocked reading this connection (used to stop IDLE promptly)."""
    if client is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        client.socket().shutdown(socket.SHUT_RDWR)
