"""A scripted OpenAI-compatible Chat Completions server on loopback: the only fake in the
fault suite is the LLM, and it is reached over real HTTP through the real provider SDK.

Each request takes the next mode from ``script`` (then ``default``): "ok" answers with a call
of the agent's final-result tool, "429" rate-limits with Retry-After, "500" fails, "hang"
never answers in time, "malformed" returns a body that is not JSON.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.servers.ports import free_port

TRIAGE = {"decision": "notify", "reason": "scripted", "priority": "normal", "summary": "scripted"}


class FakeLLM:
    def __init__(self) -> None:
        self.script: deque[str] = deque()
        self.default = "ok"
        self.requests: list[str] = []
        self.hang_seconds = 5.0
        self.lock = threading.Lock()
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def next_mode(self) -> str:
        with self.lock:
            mode = self.script.popleft() if self.script else self.default
            self.requests.append(mode)
            return mode

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                mode = fake.next_mode()
                if mode == "429":
                    self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
                elif mode == "500":
                    self._send(500, {"error": {"message": "internal error"}})
                elif mode == "hang":
                    time.sleep(fake.hang_seconds)
                    self._send(504, {"error": {"message": "gateway timeout"}})
                elif mode == "malformed":
                    self._send_raw(200, b'{"id": "x", "choices": [ {"message": ')
                else:
                    self._send(200, completion(body))

            def _send(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                self._send_raw(status, json.dumps(payload).encode(), headers)

            def _send_raw(
                self, status: int, raw: bytes, headers: dict[str, str] | None = None
            ) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

        return Handler

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def completion(request: dict[str, Any]) -> dict[str, Any]:
    tools = [tool["function"]["name"] for tool in request.get("tools", [])]
    final = next((name for name in tools if name.startswith("final_result")), None)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if final is None:
        message["content"] = json.dumps(TRIAGE)
    else:
        message["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": final, "arguments": json.dumps(TRIAGE)},
            }
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    server = FakeLLM()
    server.start()
    try:
        yield server
    finally:
        server.stop()
