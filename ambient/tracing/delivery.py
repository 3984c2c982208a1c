"""Sending one spool batch to one destination: Langfuse (spans and scores) or any OTLP backend.

Spans go as OTLP/HTTP protobuf: to Langfuse as the SDK's own exporter sends them (gzip, basic
auth, the SDK's headers); to another backend with the configured headers and compression, each
span once per request (a root recorded again with the item's final state replaces its earlier
copy: a span store may refuse a request that writes one span twice). Scores go through the
Langfuse SDK's API client to ``/api/public/scores``; other backends read the decision from its
span. Any failure is a :class:`DeliveryError`, permanent when the same bytes will never be
accepted.
"""

from __future__ import annotations

import gzip
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ambient.tracing.connection import LangfuseConnection
from ambient.tracing.otlp import HEADERS, OtlpConnection, shown_url
from ambient.tracing.spool import SpooledBatch
from ambient.tracing.tables import SpoolKind

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

PERMANENT_STATUSES = frozenset({400, 413, 422})  # the same bytes will never be accepted
PROTOBUF = "application/x-protobuf"


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Destination(Protocol):
    """Where the forwarder sends the spool; ``name`` keys its cursors."""

    @property
    def name(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def kinds(self) -> tuple[SpoolKind, ...]: ...

    async def send(self, batch: SpooledBatch) -> None: ...
    async def aclose(self) -> None: ...


def unique_spans(payloads: Iterable[bytes]) -> bytes:
    """Spooled export requests as one, each span once: its last copy (the newest state)."""
    request = ExportTraceServiceRequest()
    for payload in payloads:
        request.MergeFromString(payload)  # repeated fields: the requests' spans one after another
    seen: set[tuple[bytes, bytes]] = set()
    for resource_spans in reversed(request.resource_spans):
        for scope_spans in reversed(resource_spans.scope_spans):
            spans = scope_spans.spans
            for index in reversed(range(len(spans))):
                key = (spans[index].trace_id, spans[index].span_id)
                if key in seen:
                    del spans[index]
                seen.add(key)
    return bytes(request.SerializeToString())


class HttpDestination(ABC):
    """The HTTP client and the error handling both destinations share."""

    refused: ClassVar[str]  # what a 401/403 means, and what to check

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._http: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx  # when there is something to send (httpx brings click, rich: 4 MB)

            self._http = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_seconds))
        return self._http

    async def send(self, batch: SpooledBatch) -> None:
        import httpx

        try:
            await self._send(batch)
        except httpx.HTTPError as error:
            raise DeliveryError(f"{type(error).__name__}: {error}".rstrip(": ")) from error

    @abstractmethod
    async def _send(self, batch: SpooledBatch) -> None:
        """Post the batch the destination's way (each subclass says how)."""

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        response = await self.client().post(url, content=body, headers=headers)
        if not response.is_success:
            raise self.describe_status(response.status_code, response.text)

    def describe_status(self, status: int, text: str) -> DeliveryError:
        if status in (401, 403):
            return DeliveryError(f"{self.refused} (HTTP {status})")
        snippet = " ".join(text.split())[:200]
        return DeliveryError(f"HTTP {status}: {snippet}", permanent=status in PERMANENT_STATUSES)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


class LangfuseDestination(HttpDestination):
    name = "langfuse"
    kinds = (SpoolKind.SPANS, SpoolKind.SCORE)
    refused = "Langfuse refused the keys: check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"

    def __init__(self, connection: LangfuseConnection, timeout_seconds: float) -> None:
        super().__init__(timeout_seconds)
        self.connection = connection
        self._scores_api: Any = None

    @property
    def label(self) -> str:
        return f"Langfuse at {self.connection.base_url}"

    async def _send(self, batch: SpooledBatch) -> None:
        if batch.kind is SpoolKind.SCORE:
            return await self._send_scores(batch)
        # Concatenated ExportTraceServiceRequest messages parse as one (repeated field).
        headers = {
            **self.connection.headers(),
            "Content-Type": PROTOBUF,
            "Content-Encoding": "gzip",
        }
        body = gzip.compress(b"".join(batch.payloads))
        await self.post(self.connection.traces_url, body, headers)

    async def _send_scores(self, batch: SpooledBatch) -> None:
        from langfuse.api.core import ApiError
        from langfuse.api.scores.types.create_score_batch_results import (
            CreateScoreBatchResults,
        )

        scores = [json.loads(payload) for payload in batch.payloads]
        try:
            response = await self._scores_client().scores.create(
                request=scores, request_options={"max_retries": 0}
            )
        except ApiError as error:
            status = error.status_code or 0
            if status == 0:
                raise DeliveryError(f"score upload failed: {error.body}") from error
            raise self.describe_status(status, json.dumps(error.body, default=str)) from error
        if isinstance(response, CreateScoreBatchResults) and response.rejected:
            log.error(
                "tracing: Langfuse rejected %d of %d score(s) (not retried): %s",
                response.rejected,
                len(scores),
                "; ".join(error.message for error in response.errors),
            )

    def _scores_client(self) -> Any:
        if self._scores_api is None:
            from langfuse._version import __version__ as sdk_version
            from langfuse.api import AsyncLangfuseAPI

            self._scores_api = AsyncLangfuseAPI(
                base_url=self.connection.base_url,
                username=self.connection.public_key,
                password=self.connection.secret_key,
                x_langfuse_sdk_name="python",
                x_langfuse_sdk_version=sdk_version,
                x_langfuse_public_key=self.connection.public_key,
                timeout=self.timeout_seconds,
                httpx_client=self.client(),
            )
        return self._scores_api

    async def aclose(self) -> None:
        await super().aclose()
        self._scores_api = None


class OtlpDestination(HttpDestination):
    name = "otlp"
    kinds = (SpoolKind.SPANS,)
    refused = f"the OTLP endpoint refused the request: check the headers in {HEADERS}"

    def __init__(self, connection: OtlpConnection, timeout_seconds: float) -> None:
        super().__init__(timeout_seconds)
        self.connection = connection

    @property
    def label(self) -> str:
        return f"the OTLP endpoint {shown_url(self.connection.traces_url)}"

    async def _send(self, batch: SpooledBatch) -> None:
        body = unique_spans(batch.payloads)
        headers = {**self.connection.headers, "Content-Type": PROTOBUF}
        if self.connection.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        await self.post(self.connection.traces_url, body, headers)
