"""The span forwarder: a daemon job that moves the spool to Langfuse, and only then forgets it.

Spans go to ``/api/public/otel/v1/traces`` as the SDK's own exporter sends them (gzip'd OTLP
protobuf, basic auth, the SDK's headers); scores go through the SDK's own API client to
``/api/public/scores``. Rows are deleted after a 2xx only. When Langfuse is down, refuses the
keys or hangs, the rows stay, the forwarder backs off (exponentially, capped), says so once,
and says so again when Langfuse is back. A hanging server costs one timeout per attempt; the
rest of the daemon never waits on it.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import httpx

from ambient.core.clock import Clock
from ambient.core.config import TracingSettings
from ambient.tracing.connection import LangfuseConnection
from ambient.tracing.spool import Spool, SpooledBatch
from ambient.tracing.tables import SpoolKind

log = logging.getLogger(__name__)

MAX_BATCHES_PER_TICK = 50
PERMANENT_STATUSES = frozenset({400, 413, 422})  # the same bytes will never be accepted


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def _describe_status(status: int, text: str) -> DeliveryError:
    if status in (401, 403):
        return DeliveryError(
            f"Langfuse refused the keys (HTTP {status}): check LANGFUSE_PUBLIC_KEY and "
            "LANGFUSE_SECRET_KEY"
        )
    snippet = " ".join(text.split())[:200]
    return DeliveryError(f"HTTP {status}: {snippet}", permanent=status in PERMANENT_STATUSES)


class SpanForwarder:
    def __init__(
        self,
        spool: Spool,
        connection: LangfuseConnection,
        settings: TracingSettings,
        clock: Clock,
    ) -> None:
        self.spool = spool
        self.connection = connection
        self.settings = settings
        self.clock = clock
        self.failures = 0
        self.retry_at: datetime | None = None
        self.delivered = 0
        self._http: httpx.AsyncClient | None = None
        self._scores_api: Any = None

    # ---- the job --------------------------------------------------------------------------
    async def tick(self) -> int:
        """Deliver what is due; returns how many spans and scores Langfuse accepted."""
        if self.retry_at is not None and self.clock.now() < self.retry_at:
            return 0
        delivered = 0
        for kind in (SpoolKind.SPANS, SpoolKind.SCORE):
            for _ in range(MAX_BATCHES_PER_TICK):
                batch = await asyncio.to_thread(
                    self.spool.claim,
                    kind,
                    max_bytes=self.settings.forward_batch_max_bytes,
                    lease_seconds=self.settings.forward_timeout_seconds * 3 + 30,
                )
                if batch is None:
                    break
                try:
                    delivered += await self._deliver(batch)
                except DeliveryError as error:
                    await asyncio.to_thread(self.spool.release, batch.ids, str(error))
                    self._failed(error, delivered)
                    return delivered
        self._recovered(delivered)
        return delivered

    async def _deliver(self, batch: SpooledBatch) -> int:
        """Send one batch, then forget it; 0 if Langfuse rejected it for good (it is dropped)."""
        try:
            await self._send(batch)
        except DeliveryError as error:
            if not error.permanent:
                raise
            log.error(
                "tracing: Langfuse rejected %d %s for good, dropping them: %s",
                batch.records,
                batch.kind.value,
                error,
            )
            await asyncio.to_thread(self.spool.delete, batch.ids)
            return 0
        await asyncio.to_thread(self.spool.delete, batch.ids)
        return batch.records

    def _failed(self, error: DeliveryError, delivered: int) -> None:
        self.failures += 1
        self.delivered += delivered
        delay = min(
            self.settings.forward_backoff_seconds * 2 ** (self.failures - 1),
            self.settings.forward_backoff_max_seconds,
        )
        self.retry_at = self.clock.now() + timedelta(seconds=delay)
        if self.failures == 1:
            log.warning(
                "tracing: cannot deliver to Langfuse at %s: %s; spans stay in the local spool, "
                "retrying in %.0fs",
                self.connection.base_url,
                error,
                delay,
            )
        else:
            log.debug("tracing: delivery attempt %d failed: %s", self.failures, error)

    def _recovered(self, delivered: int) -> None:
        self.delivered += delivered
        if self.failures:
            log.info(
                "tracing: Langfuse reachable again after %d failed attempt(s); delivered %d",
                self.failures,
                delivered,
            )
        self.failures = 0
        self.retry_at = None

    # ---- delivery -------------------------------------------------------------------------
    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.forward_timeout_seconds)
            )
        return self._http

    async def _send(self, batch: SpooledBatch) -> None:
        try:
            if batch.kind is SpoolKind.SPANS:
                await self._send_spans(batch)
            else:
                await self._send_scores(batch)
        except httpx.HTTPError as error:
            raise DeliveryError(f"{type(error).__name__}: {error}".rstrip(": ")) from error

    async def _send_spans(self, batch: SpooledBatch) -> None:
        # Concatenated ExportTraceServiceRequest messages parse as one (repeated field).
        body = gzip.compress(b"".join(batch.payloads))
        headers = {
            **self.connection.headers(),
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
        }
        response = await self._client().post(
            self.connection.traces_url, content=body, headers=headers
        )
        if not response.is_success:
            raise _describe_status(response.status_code, response.text)

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
            raise _describe_status(status, json.dumps(error.body, default=str)) from error
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
                timeout=self.settings.forward_timeout_seconds,
                httpx_client=self._client(),
            )
        return self._scores_api

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
            self._scores_api = None
