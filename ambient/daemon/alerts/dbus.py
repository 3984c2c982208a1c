"""The desktop channel: a freedesktop notification over the D-Bus session bus (jeepney).

One ``org.freedesktop.Notifications.Notify`` call per alert, on the session bus named by
``$DBUS_SESSION_BUS_ADDRESS``. The notification server (the desktop's: GNOME Shell, KDE, dunst,
mako, xfce4-notifyd…) shows it; each alert replaces the channel's previous one on screen
(``replaces_id``), so a burst of alerts leaves one notification, the newest. The body may be read
as markup by the server, so ``<``, ``>`` and ``&`` are escaped.

The channel connects per send and closes the connection before ``send`` returns, rather than
keeping one open: alerts are batched and rate-limited (minutes apart), a connection costs a few
local round trips, a bus that restarted (log out and in) needs no reconnect logic, and an idle
daemon holds no socket. Notification ids belong to the server, not to a connection, so
``replaces_id`` still works across connections. The opening (connect, EXTERNAL authentication,
``Hello``) is written here rather than taken from ``jeepney.io.asyncio.open_dbus_connection``
because that one leaves the socket open when authentication fails or is cancelled.

Every failure (no bus, a bad address, no notification server, a timeout, a refused or broken
connection, a malformed answer) is an :class:`AlertChannelError` naming the reason; the
connection and the call share one bounded timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
from collections.abc import Mapping
from pathlib import Path

from jeepney import DBusAddress, Message, new_method_call
from jeepney.auth import BEGIN, AuthenticationError, Authenticator
from jeepney.bus import get_bus
from jeepney.bus_messages import message_bus
from jeepney.io.asyncio import DBusConnection, DBusRouter
from jeepney.io.common import RouterClosed
from jeepney.wrappers import DBusErrorResponse, unwrap_msg

from ambient.daemon.alerts.channel import Alert, AlertChannelError, Urgency

ADDRESS_VARIABLE = "DBUS_SESSION_BUS_ADDRESS"
NOTIFICATIONS_NAME = "org.freedesktop.Notifications"
NOTIFICATIONS = DBusAddress(
    "/org/freedesktop/Notifications", bus_name=NOTIFICATIONS_NAME, interface=NOTIFICATIONS_NAME
)
SERVICE_UNKNOWN = "org.freedesktop.DBus.Error.ServiceUnknown"
URGENCY_LEVELS: dict[Urgency, int] = {"low": 0, "normal": 1, "critical": 2}
DEFAULT_CATEGORY = "email.arrived"
DEFAULT_TIMEOUT_SECONDS = 5.0
SERVER_DEFAULT_EXPIRY = -1  # the server decides how long the notification stays

# What an error on the way to the bus means, most specific first.
REASONS: tuple[tuple[type[Exception] | tuple[type[Exception], ...], str], ...] = (
    (FileNotFoundError, "no such socket"),
    (ConnectionRefusedError, "connection refused (the bus is not running)"),
    (PermissionError, "permission denied"),
    (AuthenticationError, "the bus refused authentication"),
    ((EOFError, RouterClosed, ConnectionError), "the bus closed the connection"),
)


def bus_socket(address: str) -> str:
    """The socket to connect to for a D-Bus address (``\\0name`` for ``unix:abstract=``)."""
    try:
        path = get_bus(address)
    except (ValueError, RuntimeError) as error:
        raise AlertChannelError(
            f"desktop: cannot use the D-Bus address {address!r}: "
            "expected unix:path=… or unix:abstract=…"
        ) from error
    if not isinstance(path, str):
        raise AlertChannelError(f"desktop: cannot use the D-Bus address {address!r}")
    return path


def session_bus_available(environ: Mapping[str, str]) -> bool:
    """True when ``$DBUS_SESSION_BUS_ADDRESS`` is set to a usable address whose socket exists."""
    address = environ.get(ADDRESS_VARIABLE, "")
    if not address:
        return False
    try:
        path = bus_socket(address)
    except AlertChannelError:
        return False
    return path.startswith("\0") or Path(path).is_socket()


def markup_escaped(text: str) -> str:
    """Text a server reading the body as markup shows as written."""
    return html.escape(text, quote=False)


def notify_call(
    alert: Alert, *, app_name: str, replaces_id: int, category: str = DEFAULT_CATEGORY
) -> Message:
    """The ``Notify`` method call for an alert."""
    hints = {"urgency": ("y", URGENCY_LEVELS[alert.urgency]), "category": ("s", category)}
    body: tuple[object, ...] = (
        app_name, replaces_id, "", alert.title, markup_escaped(alert.body), [], hints,
        SERVER_DEFAULT_EXPIRY,
    )  # fmt: skip
    return new_method_call(NOTIFICATIONS, "Notify", "susssasa{sv}i", body)


class DBusChannel:
    """Alerts as desktop notifications on the session bus."""

    name = "desktop"

    def __init__(
        self,
        address: str | None = None,
        app_name: str = "ambient",
        *,
        environ: Mapping[str, str] | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        category: str = DEFAULT_CATEGORY,
    ) -> None:
        if address is None:
            address = (os.environ if environ is None else environ).get(ADDRESS_VARIABLE) or None
        self.address = address
        self.app_name = app_name
        self.timeout_seconds = timeout_seconds
        self.category = category
        self.notification_id = 0  # the server's id for the last alert shown; 0: none yet
        self._lock = asyncio.Lock()  # one send at a time, so each replaces the one before
        self._closed = False

    async def send(self, alert: Alert) -> None:
        async with self._lock:
            if self._closed:
                raise AlertChannelError("desktop: the channel is closed")
            if self.address is None:
                raise AlertChannelError(
                    f"desktop: no D-Bus session bus (${ADDRESS_VARIABLE} is not set)"
                )
            call = notify_call(
                alert,
                app_name=self.app_name,
                replaces_id=self.notification_id,
                category=self.category,
            )
            reply = await self._call(bus_socket(self.address), call)
            self.notification_id = _notification_id(reply)

    async def aclose(self) -> None:
        """Wait for a send in progress, then refuse further sends. No socket stays open."""
        async with self._lock:
            self._closed = True

    async def _call(self, path: str, call: Message) -> Message:
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await _call_on_bus(path, call)
        except TimeoutError as error:
            raise AlertChannelError(
                f"desktop: no answer from the D-Bus session bus at {self.address} "
                f"within {self.timeout_seconds:g} s"
            ) from error
        except DBusErrorResponse as error:
            raise AlertChannelError(_error_reply_reason(error)) from error
        except Exception as error:  # OSError, jeepney's parser on a malformed stream, …
            raise AlertChannelError(
                f"desktop: cannot reach the D-Bus session bus at {self.address}: {_reason(error)}"
            ) from error


async def _call_on_bus(path: str, call: Message) -> Message:
    """Connect, say Hello, make the call and return its reply (a method return)."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        await _authenticate(reader, writer)
        async with DBusRouter(DBusConnection(reader, writer)) as router:
            unwrap_msg(await router.send_and_get_reply(message_bus.Hello()))
            reply = await router.send_and_get_reply(call)
            unwrap_msg(reply)  # raises DBusErrorResponse for an error reply
            return reply
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _authenticate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    authenticator = Authenticator()
    for request in authenticator:
        writer.write(request)
        await writer.drain()
        answer = await reader.read(1024)
        if not answer:
            raise EOFError("the bus closed the connection during authentication")
        authenticator.feed(answer)
    writer.write(BEGIN)
    await writer.drain()


def _notification_id(reply: Message) -> int:
    body = reply.body
    if not (isinstance(body, tuple) and len(body) == 1 and isinstance(body[0], int)):
        raise AlertChannelError(
            f"desktop: the notification server answered Notify with {body!r}, expected an id"
        )
    return body[0]


def _error_reply_reason(error: DBusErrorResponse) -> str:
    if error.name == SERVICE_UNKNOWN:
        return (
            f"desktop: no notification server on the D-Bus session bus "
            f"({NOTIFICATIONS_NAME} is not running)"
        )
    detail = f": {error.data[0]}" if error.data and isinstance(error.data[0], str) else ""
    return f"desktop: the notification server refused the alert ({error.name}{detail})"


def _reason(error: Exception) -> str:
    for kind, reason in REASONS:
        if isinstance(error, kind):
            return reason
    return f"{type(error).__name__}: {error}"
