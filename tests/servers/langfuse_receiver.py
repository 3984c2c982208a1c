"""A loopback Langfuse: the endpoints the SDK (and ambient's forwarder) call, decoded for tests.

- ``POST /api/public/otel/v1/traces``: OTLP protobuf (gzip or not), decoded with opentelemetry-proto
- ``POST /api/public/scores``: the SDK's score batch (a JSON list)
- ``POST/GET /api/public/v2/datasets``, ``POST/GET /api/public/dataset-items``
- ``GET /api/public/health``, ``GET /api/public/projects``

An experiment (``run_experiment``, as `eval run` records one) arrives as spans with
``langfuse.experiment.*`` attributes and scores: it needs no endpoint of its own.

Basic auth is checked against credentials a test registers. Outage modes: ``refuse`` (the port is
closed), ``hang`` (the request is read but never answered, and not recorded), ``error`` (500),
``unauthorized`` (401 whatever the keys). One server per session; each test gets fresh
credentials, and only sees what was sent with them.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.servers.ports import free_port

MODES = ("ok", "refuse", "hang", "error", "unauthorized")
# what GET /api/public/projects answers (the SDK resolves it for experiment ids and links)
PROJECT = {
    "id": "project-test",
    "name": "tests",
    "organization": {"id": "org-test", "name": "tests"},
    "metadata": {},
}


def any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(any_value(item) for item in value.array_value.values)
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, which)


def attributes(values: Any) -> dict[str, Any]:
    return {item.key: any_value(item.value) for item in values if isinstance(item, KeyValue)}


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    scope: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    start_ns: int
    end_ns: int
    status_code: int
    public_key: str

    def json_attribute(self, name: str) -> Any:
        value = self.attributes.get(name)
        return json.loads(value) if isinstance(value, str) else value


@dataclass
class Recording:
    """What arrived with one set of credentials."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    dataset_items: dict[str, dict[str, Any]] = field(default_factory=dict)
    span_requests: list[dict[str, str]] = field(default_factory=list)  # headers of each POST


def decode_spans(body: bytes, public_key: str) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        scope=scope_spans.scope.name,
                        attributes=attributes(span.attributes),
                        resource=resource,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=span.status.code,
                        public_key=public_key,
                    )
                )
    return spans


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class LangfuseReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.mode = "ok"
        self.credentials: dict[str, str] = {}
        self.recordings: dict[str, Recording] = {}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) of every request
        self.lock = threading.Lock()
        self.release = threading.Event()  # set: hanging requests give up
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._server is not None:
            return
        receiver = self

        class Handler(_Handler):
            pass

        Handler.receiver = receiver
        server = _Server(("127.0.0.1", self.port), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="langfuse-receiver")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()  # a closed port also ends keep-alive connections
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def set_mode(self, mode: str) -> None:
        assert mode in MODES, mode
        if mode == "refuse":
            self.stop()
        elif self._server is None:
            self.start()
        if mode == "hang":
            self.release.clear()
        else:
            self.release.set()
        self.mode = mode

    # ---- per test -------------------------------------------------------------------------
    def new_credentials(self) -> tuple[str, str]:
        public_key = f"pk-lf-test-{uuid.uuid4().hex[:12]}"
        secret_key = f"sk-lf-test-{uuid.uuid4().hex}"
        with self.lock:
            self.credentials[public_key] = secret_key
            self.recordings[public_key] = Recording()
        return public_key, secret_key

    def recording(self, public_key: str) -> Recording:
        with self.lock:
            return self.recordings.setdefault(public_key, Recording())

    def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            time.sleep(0.02)

    def authenticate(self, header: str | None) -> str | None:
        """The public key of valid basic-auth credentials, else None."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            public_key, _, secret_key = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        with self.lock:
            known = self.credentials.get(public_key)
        return public_key if known is not None and known == secret_key else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.connections_lock:
            connections, self.connections = self.connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    receiver: LangfuseReceiver
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._handle("POST")

    # ---- dispatch ---------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        receiver = self.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        if receiver.mode == "hang":
            receiver.release.wait(timeout=60)
            self.close_connection = True
            return  # never answered, never recorded
        if receiver.mode == "error":
            return self._reply(method, 500, {"message": "Internal Server Error"})
        if path == "/api/public/health":
            return self._reply(method, 200, {"status": "OK", "version": "3.0.0-receiver"})
        public_key = receiver.authenticate(self.headers.get("Authorization"))
        if receiver.mode == "unauthorized" or public_key is None:
            return self._reply(method, 401, {"message": "Invalid credentials"})
        recording = receiver.recording(public_key)
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        route = self._route(method, path)
        if route is None:
            return self._reply(method, 404, {"message": f"no route {method} {path}"})
        status, payload = route(recording, public_key, body)
        self._reply(method, status, payload)

    def _route(
        self, method: str, path: str
    ) -> Callable[[Recording, str, bytes], tuple[int, Any]] | None:
        if method == "POST" and path == "/api/public/otel/v1/traces":
            return self._traces
        if method == "POST" and path == "/api/public/scores":
            return self._scores
        if method == "POST" and path == "/api/public/v2/datasets":
            return self._create_dataset
        if method == "GET" and path.startswith("/api/public/v2/datasets/"):
            return self._get_dataset
        if method == "POST" and path == "/api/public/dataset-items":
            return self._create_dataset_item
        if method == "GET" and path == "/api/public/dataset-items":
            return self._list_dataset_items
        if method == "GET" and path == "/api/public/projects":
            return lambda *_: (200, {"data": [PROJECT]})
        return None

    def _reply(self, method: str, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        with self.receiver.lock:
            self.receiver.requests.append((method, urlsplit(self.path).path, status))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # ---- endpoints --------------------------------------------------------------------------
    def _traces(self, recording: Recording, public_key: str, body: bytes) -> tuple[int, Any]:
        if self.headers.get("Content-Type") != "application/x-protobuf":
            return 400, {"message": "expected application/x-protobuf"}
        spans = decode_spans(body, public_key)
        with self.receiver.lock:
            recording.spans.extend(spans)
            recording.span_requests.append(
                {key.lower(): value for key, value in self.headers.items()}
            )
        return 200, {}

    def _scores(self, recording: Recording, public_key: str, body: bytes) -> tuple[int, Any]:
        scores = json.loads(body)
        assert isinstance(scores, list), scores
        with self.receiver.lock:
            recording.scores.extend(scores)
        return 202, {"message": "Accepted"}

    def _create_dataset(
        self, recording: Recording, public_key: str, body: bytes
    ) -> tuple[int, Any]:
        request = json.loads(body)
        with self.receiver.lock:
            dataset = recording.datasets.get(request["name"]) or {
                "id": f"dataset-{uuid.uuid4().hex[:8]}",
                "name": request["name"],
                "projectId": "project-test",
                "createdAt": _now(),
            }
            dataset.update(
                description=request.get("description"),
                metadata=request.get("metadata"),
                updatedAt=_now(),
            )
            recording.datasets[request["name"]] = dataset
        return 200, dataset

    def _get_dataset(self, recording: Recording, public_key: str, body: bytes) -> tuple[int, Any]:
        name = unquote(urlsplit(self.path).path.removeprefix("/api/public/v2/datasets/"))
        dataset = recording.datasets.get(name)
        return (200, dataset) if dataset else (404, {"message": "dataset not found"})

    def _create_dataset_item(
        self, recording: Recording, public_key: str, body: bytes
    ) -> tuple[int, Any]:
        request = json.loads(body)
        dataset = recording.datasets.get(request["datasetName"])
        if dataset is None:
            return 404, {"message": "dataset not found"}
        item = {
            "id": request.get("id") or uuid.uuid4().hex,
            "status": request.get("status") or "ACTIVE",
            "input": request.get("input"),
            "expectedOutput": request.get("expectedOutput"),
            "metadata": request.get("metadata"),
            "sourceTraceId": request.get("sourceTraceId"),
            "sourceObservationId": request.get("sourceObservationId"),
            "datasetId": dataset["id"],
            "datasetName": dataset["name"],
            "createdAt": _now(),
            "updatedAt": _now(),
            "mediaReferences": [],
        }
        with self.receiver.lock:
            recording.dataset_items[item["id"]] = item
        return 200, item

    def _list_dataset_items(
        self, recording: Recording, public_key: str, body: bytes
    ) -> tuple[int, Any]:
        query = parse_qs(urlsplit(self.path).query)
        name = (query.get("datasetName") or [""])[0]
        items = [item for item in recording.dataset_items.values() if item["datasetName"] == name]
        meta = {"page": 1, "limit": len(items) or 1, "totalItems": len(items), "totalPages": 1}
        return 200, {"data": items, "meta": meta}


# ---- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def langfuse_server() -> Iterator[LangfuseReceiver]:
    receiver = LangfuseReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@dataclass
class LangfuseProject:
    """One test's view of the receiver: its own keys, and what arrived with them."""

    server: LangfuseReceiver
    public_key: str
    secret_key: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def received(self) -> Recording:
        return self.server.recording(self.public_key)

    def environment(self) -> dict[str, str]:
        return {
            "LANGFUSE_PUBLIC_KEY": self.public_key,
            "LANGFUSE_SECRET_KEY": self.secret_key,
            "LANGFUSE_BASE_URL": self.base_url,
        }

    def set_mode(self, mode: str) -> None:
        self.server.set_mode(mode)

    def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        return self.server.wait_for(condition, timeout)


@pytest.fixture
def langfuse_project(langfuse_server: LangfuseReceiver) -> Iterator[LangfuseProject]:
    public_key, secret_key = langfuse_server.new_credentials()
    langfuse_server.set_mode("ok")
    yield LangfuseProject(langfuse_server, public_key, secret_key)
    langfuse_server.set_mode("ok")
