"""A freedesktop notification server in the test process, on the test session bus (jeepney).

It owns ``org.freedesktop.Notifications`` for one test, answers ``Notify`` with increasing ids
(a ``replaces_id`` that names a shown notification keeps that id, as real servers do),
``GetCapabilities``, ``GetServerInformation`` and ``CloseNotification``, and records every
notification. Tests can make it answer ``Notify`` with an error, with a malformed body, or not
at all. At the end it releases the name and waits for the bus to confirm, so the next test finds
the name free.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from jeepney import HeaderFields, MatchRule, Message, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.asyncio import DBusRouter, open_dbus_connection

from tests.servers.dbus import SessionBus

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
CAPABILITIES = ["body", "body-markup"]
DO_NOT_QUEUE = 4  # RequestName flag: fail rather than wait in line for the name
PRIMARY_OWNER = 1
BUS_NAME = "org.freedesktop.DBus"
BUS_PATH = "/org/freedesktop/DBus"


@dataclass(frozen=True)
class Notification:
    """One ``Notify`` call as the server received it, and the id it answered."""

    app_name: str
    replaces_id: int
    app_icon: str
    summary: str
    body: str
    actions: list[str]
    hints: dict[str, tuple[str, Any]]
    expire_timeout: int
    sender: str  # the caller's unique name on the bus
    id: int

    @property
    def urgency(self) -> int:
        return int(self.hints["urgency"][1])


@dataclass
class NotificationServer:
    router: DBusRouter
    notifications: list[Notification] = field(default_factory=list)
    notify_error: str | None = None  # answer Notify with this D-Bus error name
    notify_body: tuple[str, tuple[Any, ...]] | None = None  # (signature, body) instead of the id
    answer_notify: bool = True  # False: keep the call unanswered
    _last_id: int = 0

    async def serve(self, calls: asyncio.Queue[Message]) -> None:
        while True:
            call = await calls.get()
            reply = self._answer(call)
            if reply is not None:
                await self.router.send(reply)

    def _answer(self, call: Message) -> Message | None:
        member = call.header.fields.get(HeaderFields.member)
        if member == "Notify":
            return self._notify(call)
        if member == "GetCapabilities":
            return new_method_return(call, "as", (CAPABILITIES,))
        if member == "GetServerInformation":
            return new_method_return(call, "ssss", ("ambient-test", "ambient", "1.0", "1.2"))
        if member == "CloseNotification":
            return new_method_return(call)
        return new_error(call, "org.freedesktop.DBus.Error.UnknownMethod")

    def _notify(self, call: Message) -> Message | None:
        if not self.answer_notify:
            return None
        if self.notify_error is not None:
            return new_error(call, self.notify_error, "s", ("refused by the test",))
        if self.notify_body is not None:
            return new_method_return(call, *self.notify_body)
        app_name, replaces_id, app_icon, summary, body, actions, hints, expire = call.body
        shown = {notification.id for notification in self.notifications}
        if replaces_id not in shown:
            self._last_id += 1
        notification_id = replaces_id if replaces_id in shown else self._last_id
        self.notifications.append(
            Notification(
                app_name,
                replaces_id,
                app_icon,
                summary,
                body,
                actions,
                hints,
                expire,
                sender=call.header.fields[HeaderFields.sender],
                id=notification_id,
            )  # fmt: skip
        )
        return new_method_return(call, "u", (notification_id,))

    async def has_owner(self, name: str) -> bool:
        reply = await self.router.send_and_get_reply(message_bus.NameHasOwner(name))
        return bool(reply.body[0])

    async def wait_until_gone(self, name: str, timeout: float = 10.0) -> None:
        """Until a connection (its unique name) has left the bus, told by NameOwnerChanged."""
        rule = MatchRule(
            type="signal", interface=BUS_NAME, member="NameOwnerChanged", path=BUS_PATH
        )
        rule.add_arg_condition(0, name)
        with self.router.filter(rule, bufsize=10) as changes:
            await self.router.send_and_get_reply(message_bus.AddMatch(rule))
            try:
                if await self.has_owner(name):
                    async with asyncio.timeout(timeout):
                        while (await changes.get()).body[2] != "":  # (name, old, new owner)
                            pass
            finally:
                await self.router.send_and_get_reply(message_bus.RemoveMatch(rule))


@pytest.fixture
async def notification_server(session_bus: SessionBus) -> AsyncIterator[NotificationServer]:
    connection = await open_dbus_connection(session_bus.address)
    calls: asyncio.Queue[Message] = asyncio.Queue()
    async with connection, DBusRouter(connection) as router:
        rule = MatchRule(type="method_call", path=PATH, interface=NAME)
        with router.filter(rule, queue=calls):
            reply = await router.send_and_get_reply(message_bus.RequestName(NAME, DO_NOT_QUEUE))
            assert reply.body == (PRIMARY_OWNER,), f"{NAME} is taken on the test bus: {reply.body}"
            server = NotificationServer(router)
            serving = asyncio.create_task(server.serve(calls))
            try:
                yield server
            finally:
                serving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await serving
                await router.send_and_get_reply(message_bus.ReleaseName(NAME))
