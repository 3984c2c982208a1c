"""Building tracing for one process: the Langfuse client, its span pipeline, the spool.

The Langfuse client is built here, explicitly, from the resolved connection (never from the
SDK's own environment defaults), with its own TracerProvider (never the global one) and the
spool exporter in place of the network exporter. One per process: the SDK keeps one resource
manager per public key, so :meth:`Tracing.close` releases it for a later :func:`open_tracing`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from ambient import __version__
from ambient.core.clock import Clock
from ambient.core.config import Secrets, Settings
from ambient.tracing.connection import LangfuseConnection, announce, resolve_connection
from ambient.tracing.context import ItemIdGenerator
from ambient.tracing.exporter import SpoolSpanExporter
from ambient.tracing.forwarder import SpanForwarder
from ambient.tracing.redaction import Redactor
from ambient.tracing.spool import Spool
from ambient.tracing.trace_log import TraceLog
from ambient.tracing.tracer import ItemTracer

if TYPE_CHECKING:
    from langfuse import Langfuse
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

SPANS_PER_SPOOL_ROW = 64


@dataclass
class Tracing:
    """Everything tracing in one process: the tracer to call, the spool, the connection."""

    settings: Settings
    clock: Clock
    connection: LangfuseConnection
    redactor: Redactor
    spool: Spool
    trace_log: TraceLog
    tracer: ItemTracer
    langfuse: Langfuse | None = None
    provider: TracerProvider | None = None
    owns_client: bool = True  # False: another Tracing in this process built the SDK's client
    _closed: bool = field(default=False, repr=False)

    def forwarder(self) -> SpanForwarder | None:
        """The daemon job that sends the spool to Langfuse (None when tracing is off)."""
        if not self.connection.enabled:
            return None
        return SpanForwarder(self.spool, self.connection, self.settings.tracing, self.clock)

    def trace_url(self, trace_id: str) -> str | None:
        """Where the user opens the item's trace (Langfuse redirects /trace/<id> to it)."""
        base = self.settings.tracing.public_url or self.connection.base_url
        if not base:
            return None
        return f"{base.rstrip('/')}/trace/{trace_id}"

    def close(self) -> None:
        """Spool what is still in memory and release the SDK's per-key resources."""
        if self._closed:
            return
        self._closed = True
        if self.langfuse is None:
            return
        if not self.owns_client:
            self.langfuse.flush()  # the pipeline is shared: leave it running for its owner
            return
        self.langfuse.shutdown()
        _forget_resources(self.connection.public_key)
        if self.provider is not None:
            self.provider.shutdown()


def open_tracing(
    settings: Settings,
    secrets: Secrets,
    engine: Engine,
    clock: Clock,
    *,
    connection: LangfuseConnection | None = None,
) -> Tracing:
    """Tracing for this process, saying once what it does (on, off, or refused and why)."""
    connection = connection or resolve_connection(secrets)
    announce(connection)
    redactor = Redactor.from_settings(settings, secrets)
    spool = Spool(engine, clock, settings.tracing.spool_max_rows)
    trace_log = TraceLog(engine, clock, redactor)
    metadata = {"ambient_version": __version__, "model": settings.model_name[:150]}
    langfuse = provider = None
    owns_client = True
    if connection.enabled:
        langfuse, provider, owns_client = _langfuse_client(settings, connection, spool, redactor)
    tracer = ItemTracer(
        trace_log=trace_log,
        clock=clock,
        redactor=redactor,
        langfuse=langfuse,
        provider=provider,
        spool=spool,
        metadata=metadata,
        environment=settings.tracing.environment,
    )
    return Tracing(
        settings=settings,
        clock=clock,
        connection=connection,
        redactor=redactor,
        spool=spool,
        trace_log=trace_log,
        tracer=tracer,
        langfuse=langfuse,
        provider=provider,
        owns_client=owns_client,
    )


def _langfuse_client(
    settings: Settings, connection: LangfuseConnection, spool: Spool, redactor: Redactor
) -> tuple[Langfuse, TracerProvider, bool]:
    from langfuse import Langfuse
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(
        resource=Resource.create({"service.name": "ambient", "service.version": __version__}),
        id_generator=ItemIdGenerator(),
    )
    client = Langfuse(
        public_key=connection.public_key,
        secret_key=connection.secret_key,
        base_url=connection.base_url,
        timeout=max(1, int(settings.tracing.forward_timeout_seconds)),
        tracing_enabled=True,
        sample_rate=1.0,
        environment=settings.tracing.environment,
        release=__version__,
        tracer_provider=provider,
        span_exporter=SpoolSpanExporter(spool, redactor),
        flush_at=SPANS_PER_SPOOL_ROW,
        flush_interval=settings.tracing.spool_interval_seconds,
    )
    resources = client._resources
    existing = resources.tracer_provider if resources is not None else None
    if existing is not None and existing is not provider:
        # Another client for these keys already lives in this process and the SDK hands back
        # its pipeline (same spool): use its provider for agent spans too, and leave it open.
        log.warning("tracing: a Langfuse client for these keys already exists; reusing it")
        provider.shutdown()
        return client, existing, False
    return client, provider, True


def _forget_resources(public_key: str) -> None:
    """Drop the SDK's per-key singleton so a new client in this process starts fresh."""
    from langfuse._client.resource_manager import LangfuseResourceManager

    with LangfuseResourceManager._lock:
        LangfuseResourceManager._instances.pop(public_key, None)
