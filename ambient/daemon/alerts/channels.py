"""The channels `[alerts]` turns on, built for the runtime from Settings and Secrets.

The desktop channel is on with ``desktop = "on"``, or with ``"auto"`` when the environment
names a session bus whose socket is there; the command hook when ``command`` is set; the HTTP
POST with ``[alerts.http]``; the digest with ``digest`` times (it needs an SMTP account).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ambient.approvals.executors import PermanentExecutionError
from ambient.approvals.executors.mail import resolve_account
from ambient.core.clock import Clock
from ambient.core.config import ImapSourceSettings, Secrets, Settings
from ambient.core.errors import ConfigError
from ambient.daemon.alerts.channel import Channel

if TYPE_CHECKING:
    from ambient.daemon.alerts.digest import DigestChannel

# Each channel's module (jeepney for D-Bus, httpx for HTTP, the SMTP client for the digest) is
# imported only when that channel is on: an idle daemon with alerts off loads none of them.


@dataclass(frozen=True)
class AlertChannels:
    immediate: list[Channel]  # desktop, command, http: an alert as things come in
    digest: DigestChannel | None  # at the digest times

    @property
    def all(self) -> list[Channel]:
        return [*self.immediate, *([self.digest] if self.digest is not None else [])]


def enabled_channels(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """The names of the channels `[alerts]` turns on here (what `ambient status` shows)."""
    alerts = settings.alerts
    desktop = alerts.desktop == "on"
    if alerts.desktop == "auto":
        from ambient.daemon.alerts.dbus import session_bus_available

        desktop = session_bus_available(environ)
    wanted = {
        "desktop": desktop,
        "command": bool(alerts.command),
        "http": alerts.http is not None,
        "digest": bool(alerts.digest),
    }
    return [name for name, on in wanted.items() if on]


def build_channels(
    settings: Settings, secrets: Secrets, clock: Clock, environ: Mapping[str, str]
) -> AlertChannels:
    """The enabled channels; a ConfigError naming the setting for one that cannot work."""
    alerts = settings.alerts
    names = enabled_channels(settings, environ)
    immediate: list[Channel] = []
    if "desktop" in names:
        from ambient.daemon.alerts.dbus import DBusChannel

        immediate.append(DBusChannel(environ=environ))  # this environ only, never os.environ
    if alerts.command:
        from ambient.daemon.alerts.command import CommandChannel

        immediate.append(CommandChannel(alerts.command, alerts.command_timeout_seconds))
    if alerts.http is not None:
        from ambient.daemon.alerts.http import HttpChannel

        http = alerts.http
        token = secrets.get(http.token_from)
        if http.token_from and token is None:
            raise ConfigError(
                f"{settings.config_file}: alerts.http.token_from: the variable "
                f"{http.token_from} is not set (environment or .env)"
            )
        immediate.append(
            HttpChannel(
                http.url, token=token, priority=http.priority, timeout_seconds=http.timeout_seconds
            )
        )
    digest = _digest(settings, secrets, clock) if alerts.digest else None
    return AlertChannels(immediate, digest)


def _digest(settings: Settings, secrets: Secrets, clock: Clock) -> DigestChannel:
    """Through [smtp], else the first IMAP account with an SMTP server."""
    from ambient.daemon.alerts.digest import DigestChannel

    source = next(
        (
            source.name
            for source in settings.sources
            if isinstance(source, ImapSourceSettings) and source.smtp is not None
        ),
        "",
    )
    try:
        account = resolve_account(settings, secrets, "" if settings.smtp else source)
    except PermanentExecutionError as error:
        raise ConfigError(
            f"{settings.config_file}: alerts.digest: cannot send the digest: {error}"
        ) from None
    return DigestChannel(account, settings.alerts.digest_to or account.from_address, clock)
