"""A real SMTP server (aiosmtpd) on loopback, started once per test session.

It records every message it accepts. Tests can make it refuse recipients or DATA, and hook
the moment a message arrives (e.g. to SIGKILL the sending daemon before it hears "250").
aiosmtpd's ``Controller(port=0)`` does not work, so a free port is found first.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from ambient.core.config import SmtpSettings
from tests.servers.ports import free_port

USERNAME = "ambient"
PASSWORD = "smtp-Secret-9"  # optional AUTH (plain text on loopback); unauthenticated also works


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USERNAME.encode(),
        PASSWORD.encode(),
    )
    if not good:
        return AuthResult(success=False, handled=False)  # the server answers 535
    return AuthResult(success=True, auth_data=data.login.decode())


@dataclass(frozen=True)
class ReceivedMessage:
    sender: str
    recipients: list[str]
    raw: bytes
    login: str | None = None  # who authenticated for it, if anyone

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        content = part.get_content()
        assert isinstance(content, str)
        return content.replace("\r\n", "\n")


@dataclass
class SmtpRecorder:
    """The aiosmtpd handler: keeps what arrives; behaviour switches for failure tests."""

    messages: list[ReceivedMessage] = field(default_factory=list)
    refuse_recipients: set[str] = field(default_factory=set)
    data_answer: str | None = None  # e.g. "451 4.3.0 try again later" instead of accepting
    on_data: Callable[[ReceivedMessage], None] | None = None
    drop_after_data: bool = False  # keep the message but cut the line before answering
    on_quit: Callable[[], None] | None = None  # the client heard "250" and is saying goodbye
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refuse_recipients:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        if self.on_quit is not None:
            self.on_quit()
        return "221 Bye"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_answer is not None:
            return self.data_answer
        received = ReceivedMessage(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            bytes(envelope.original_content),
            session.auth_data if session.authenticated else None,
        )
        with self.lock:
            self.messages.append(received)
        if self.on_data is not None:
            self.on_data(received)
        if self.drop_after_data:
            server.transport.close()
            return "421 4.3.0 connection dropped by the test"
        return "250 2.0.0 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: SmtpRecorder

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self.recorder.lock:
            return list(self.recorder.messages)

    def settings(self, from_address: str = "me@example.com") -> SmtpSettings:
        return SmtpSettings(
            host=self.host,
            port=self.port,
            security="none",
            from_address=from_address,
            timeout_seconds=5,
        )

    def reset(self) -> None:
        with self.recorder.lock:
            self.recorder.messages.clear()
        self.recorder.refuse_recipients = set()
        self.recorder.data_answer = None
        self.recorder.on_data = None
        self.recorder.drop_after_data = False
        self.recorder.on_quit = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.messages
            if len(messages) >= count:
                return messages
            time.sleep(0.02)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")


@pytest.fixture(scope="session")
def smtp_server_session() -> Iterator[SmtpServer]:
    recorder = SmtpRecorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, recorder)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server(smtp_server_session: SmtpServer) -> Iterator[SmtpServer]:
    """The session's SMTP server, emptied and with default behaviour for this test."""
    smtp_server_session.reset()
    yield smtp_server_session
    smtp_server_session.reset()
