"""The desktop channel, on a real dbus-daemon session bus with a notification server on it."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ambient.daemon.alerts.channel import Alert, AlertChannelError, Urgency
from ambient.daemon.alerts.dbus import DBusChannel, session_bus_available
from tests.servers.dbus import SessionBus
from tests.servers.notifications import NotificationServer

ALERT = Alert(
    title="ambient: 1 draft waits for you",
    lines=("draft: Ann <ann@example.org> — Re: <b>lunch</b> & more",),
    count=1,
    tags=("draft",),
)
SHORT_TIMEOUT = 0.5  # only for peers that never answer: the channel gives up after this


def alert(title: str, urgency: Urgency = "normal") -> Alert:
    return Alert(title=title, lines=(f"{title}: a line",), urgency=urgency, count=1)


async def test_an_alert_arrives_as_a_notification(
    session_bus: SessionBus, notification_server: NotificationServer
) -> None:
    channel = DBusChannel(environ=session_bus.environ, app_name="ambient-test")

    await channel.send(ALERT)

    [shown] = notification_server.notifications
    assert shown.app_name == "ambient-test"
    assert shown.summary == "ambient: 1 draft waits for you"
    assert (
        shown.body == "draft: Ann &lt;ann@example.org&gt; — Re: &lt;b&gt;lunch&lt;/b&gt; &amp; more"
    )
    assert shown.replaces_id == 0
    assert shown.app_icon == "" and shown.actions == [] and shown.expire_timeout == -1
    assert shown.hints["urgency"] == ("y", 1)
    assert shown.hints["category"] == ("s", "email.arrived")
    assert channel.name == "desktop"


@pytest.mark.parametrize(("urgency", "level"), [("low", 0), ("normal", 1), ("critical", 2)])
async def test_the_urgency_hint_follows_the_alert(
    session_bus: SessionBus,
    notification_server: NotificationServer,
    urgency: Urgency,
    level: int,
) -> None:
    await DBusChannel(session_bus.address).send(alert("ambient: a question", urgency))

    [shown] = notification_server.notifications
    assert shown.urgency == level
    assert shown.app_name == "ambient"


async def test_a_newer_alert_replaces_the_one_on_screen(
    session_bus: SessionBus, notification_server: NotificationServer
) -> None:
    channel = DBusChannel(session_bus.address)
    other = DBusChannel(session_bus.address)
    await other.send(alert("another program's notification"))

    await channel.send(alert("ambient: 1 draft waits"))
    await channel.send(alert("ambient: 2 drafts wait"))

    _, first, second = notification_server.notifications
    assert first.replaces_id == 0
    assert second.replaces_id == first.id != 0
    assert second.id == first.id  # the server showed it in place of the first
    assert channel.notification_id == first.id


async def test_each_send_closes_its_connection(
    session_bus: SessionBus, notification_server: NotificationServer
) -> None:
    channel = DBusChannel(session_bus.address)

    await channel.send(ALERT)
    await channel.aclose()

    [shown] = notification_server.notifications
    await notification_server.wait_until_gone(shown.sender)
    with pytest.raises(AlertChannelError, match="closed"):
        await channel.send(ALERT)


async def test_no_notification_server_on_the_bus_is_named(session_bus: SessionBus) -> None:
    channel = DBusChannel(session_bus.address)

    with pytest.raises(AlertChannelError, match="no notification server on the D-Bus session bus"):
        await channel.send(ALERT)


async def test_a_notification_server_error_is_reported(
    session_bus: SessionBus, notification_server: NotificationServer
) -> None:
    notification_server.notify_error = "org.freedesktop.DBus.Error.LimitsExceeded"

    with pytest.raises(AlertChannelError, match=r"refused the alert \(.*LimitsExceeded: refused"):
        await DBusChannel(session_bus.address).send(ALERT)


async def test_a_notification_server_that_never_answers_times_out(
    session_bus: SessionBus, notification_server: NotificationServer
) -> None:
    notification_server.answer_notify = False
    channel = DBusChannel(session_bus.address, timeout_seconds=SHORT_TIMEOUT)

    with pytest.raises(AlertChannelError, match="no answer from the D-Bus session bus .* within"):
        await channel.send(ALERT)


async def test_no_session_bus_at_all_fails_at_once() -> None:
    environ = {"HOME": "/nonexistent"}
    channel = DBusChannel(environ=environ)
    environ["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/late"  # read at construction only

    with pytest.raises(AlertChannelError, match=r"DBUS_SESSION_BUS_ADDRESS is not set"):
        await channel.send(ALERT)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("not an address", "cannot use the D-Bus address"),
        ("tcp:host=127.0.0.1,port=1", "cannot use the D-Bus address"),
        ("unix:path=/nonexistent/ambient-bus", "no such socket"),
    ],
)
async def test_a_bad_address_fails_at_once(address: str, reason: str) -> None:
    # a long timeout: failing "at once" means never waiting for it
    channel = DBusChannel(address, timeout_seconds=120)

    with pytest.raises(AlertChannelError, match=reason):
        await channel.send(ALERT)


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short temp dir: a unix socket path must stay under 108 bytes."""
    root = Path(tempfile.mkdtemp(prefix="ambient-bus-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def test_a_bus_that_is_gone_refuses_at_once(socket_dir: Path) -> None:
    stale = socket_dir / "bus"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(stale))  # the file stays, nobody listens: as after a crashed bus
    channel = DBusChannel(f"unix:path={stale}", timeout_seconds=120)

    with pytest.raises(AlertChannelError, match=r"connection refused"):
        await channel.send(ALERT)


AUTHENTICATED = b"OK 0123456789abcdef0123456789abcdef\r\n"  # what a bus answers to AUTH


@dataclass(frozen=True)
class Peer:
    """Something on the bus socket that is not a working bus: after each read, its next answer;
    then it hangs up, or goes on reading and never answers."""

    answers: tuple[bytes, ...] = ()
    hangs_up: bool = False

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for answer in self.answers:
                await reader.read(1024)
                writer.write(answer)
            while not self.hangs_up and await reader.read(1024):
                pass
        finally:
            writer.close()


@pytest.mark.parametrize(
    ("peer", "reason"),
    [
        pytest.param(Peer(hangs_up=True), "the bus closed the connection", id="closes-at-once"),
        pytest.param(Peer(), "no answer from the D-Bus session bus", id="never-answers"),
        pytest.param(
            Peer((b"REJECTED ANONYMOUS\r\n",)), "the bus refused authentication", id="rejects"
        ),
        pytest.param(Peer((b"x" * 10_000,)), "the bus refused authentication", id="no-line-end"),
        pytest.param(
            Peer((AUTHENTICATED, b"X\x02\x01\x01" + b"\xff" * 60)),
            "cannot reach the D-Bus session bus at",  # whatever the parser raised
            id="garbage-after-authentication",
        ),
        pytest.param(
            Peer((AUTHENTICATED,), hangs_up=True),
            "the bus closed the connection",
            id="hangs-up-after-authentication",
        ),
    ],
)
async def test_bus_failures_raise_only_alert_channel_errors(
    socket_dir: Path, peer: Peer, reason: str
) -> None:
    path = socket_dir / "bus"
    server = await asyncio.start_unix_server(peer, path=str(path))
    channel = DBusChannel(f"unix:path={path}", timeout_seconds=SHORT_TIMEOUT)

    try:
        with pytest.raises(AlertChannelError, match=reason):
            await channel.send(ALERT)
    finally:
        server.close()
        await server.wait_closed()


async def test_a_malformed_notify_answer_is_an_alert_channel_error(
    session_bus: SessionBus, notification_server: NotificationServer
) -> None:
    notification_server.notify_body = ("s", ("not an id",))

    with pytest.raises(AlertChannelError, match="answered Notify with .*expected an id"):
        await DBusChannel(session_bus.address).send(ALERT)


def test_session_bus_available_when_the_socket_exists(
    session_bus: SessionBus, socket_dir: Path
) -> None:
    not_a_socket = socket_dir / "file"
    not_a_socket.write_text("")

    assert session_bus_available(session_bus.environ)
    assert session_bus_available({"DBUS_SESSION_BUS_ADDRESS": "unix:abstract=/tmp/dbus-x"})
    assert not session_bus_available({})
    assert not session_bus_available({"DBUS_SESSION_BUS_ADDRESS": ""})
    assert not session_bus_available({"DBUS_SESSION_BUS_ADDRESS": f"unix:path={socket_dir}/no"})
    assert not session_bus_available({"DBUS_SESSION_BUS_ADDRESS": f"unix:path={not_a_socket}"})
    assert not session_bus_available({"DBUS_SESSION_BUS_ADDRESS": "tcp:host=localhost,port=1"})
    assert not session_bus_available({"DBUS_SESSION_BUS_ADDRESS": "garbage"})
