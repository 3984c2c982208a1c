"""A loopback HTTP receiver that reads a POST as ntfy does: records it, answers as told."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Published:
    path: str
    headers: dict[str, str]  # lower-case names
    text: str


@dataclass
class NtfyReceiver:
    port: int = 0
    published: list[Published] = field(default_factory=list)
    status: int = 200
    hang: threading.Event | None = None  # set: hold every answer until the event is set

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ambient-alerts"


@pytest.fixture
def ntfy_receiver() -> Iterator[NtfyReceiver]:
    state = NtfyReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            length = int(self.headers.get("Content-Length", "0"))
            text = self.rfile.read(length).decode("utf-8")
            headers = {name.lower(): value for name, value in self.headers.items()}
            state.published.append(Published(self.path, headers, text))
            if state.hang is not None:
                state.hang.wait(30)
            answer = b'{"id":"x1"}' if state.status < 300 else b'{"error":"topic is broken"}'
            self.send_response(state.status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.hang is not None:
            state.hang.set()
        server.shutdown()
        server.server_close()
