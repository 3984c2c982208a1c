"""Building tracing for one process: the Langfuse client, its span pipeline, the spool.

Spans are made by the Langfuse SDK whenever any destination is on (Langfuse, or only an OTLP
backend: then the client has a local identity and never talks to a Langfuse server), so every
destination gets the same spans, redacted once, from the same spool. The client is built here,
explicitly, from the resolved connection (never from the SDK's own environment defaults), with
its own TracerProvider (never the global one) and the spool exporter in place of the network
exporter. One per process: the SDK keeps one resource manager per public key, so
:meth:`Tracing.close` releases it for a later :func:`open_tracing`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from ambient import __version__
from ambient.core.clock import Clock
from ambient.core.config import Secrets, Settings
from ambient.tracing.connection import (
    LangfuseConnection,
    TracingState,
    announce,
    resolve_connection,
)
from ambient.tracing.context import ItemIdGenerator
from ambient.tracing.delivery import Destination, LangfuseDestination, OtlpDestination
from ambient.tracing.exporter import SpoolSpanExporter
from ambient.tracing.forwarder import SpanForwarder
from ambient.tracing.otlp import OtlpConnection, announce_otlp, resolve_otlp
from ambient.tracing.redaction import Redactor
from ambient.tracing.spool import Spool
from ambient.tracing.trace_log import TraceLog
from ambient.tracing.tracer import ItemTracer

if TYPE_CHECKING:
    from langfuse import Langfuse
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

SPANS_PER_SPOOL_ROW = 64
# The SDK's identity when spans go only to an OTLP backend: it makes the spans, sends nothing.
LOCAL_CLIENT = LangfuseConnection(
    TracingState.ON,
    "spans made locally for the OTLP backend",
    public_key="ambient-local",
    secret_key="ambient-local",
    base_url="http://127.0.0.1:9",  # never contacted: spans go to the spool, scores are off
)


@dataclass
class Tracing:
    """Everything tracing in one process: the tracer to call, the spool, the connections."""

    settings: Settings
    clock: Clock
    connection: LangfuseConnection
    otlp: OtlpConnection
    redactor: Redactor
    spool: Spool
    trace_log: TraceLog
    tracer: ItemTracer
    client: Langfuse | None = None  # the SDK's client making the spans (a local one: OTLP only)
    provider: TracerProvider | None = None
    owns_client: bool = True  # False: another Tracing in this process built the SDK's client
    client_key: str = ""  # the public key the SDK's client was built with
    _closed: bool = field(default=False, repr=False)

    @property
    def langfuse(self) -> Langfuse | None:
        """The client for Langfuse's own API (datasets, experiments): None unless tracing to
        Langfuse is on."""
        return self.client if self.connection.enabled else None

    def destinations(self) -> list[Destination]:
        """Where the spool goes: Langfuse and/or the OTLP endpoint (empty: tracing is off)."""
        timeout = self.settings.tracing.forward_timeout_seconds
        destinations: list[Destination] = []
        if self.connection.enabled:
            destinations.append(LangfuseDestination(self.connection, timeout))
        if self.otlp.enabled:
            destinations.append(OtlpDestination(self.otlp, timeout))
        return destinations

    def retire_other_destinations(self) -> None:
        """The daemon at start-up: the spool keeps rows only for the destinations configured
        here; any other's cursor (an endpoint removed from the configuration, another
        process's) is retired, so it cannot hold rows forever."""
        self.spool.retire_others(
            (destination.name, kind)
            for destination in self.destinations()
            for kind in destination.kinds
        )

    def forwarder(self) -> SpanForwarder | None:
        """The daemon job that sends the spool to every destination (None when tracing is off)."""
        destinations = self.destinations()
        if not destinations:
            return None
        return SpanForwarder(self.spool, destinations, self.settings.tracing, self.clock)

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
        if self.client is None:
            return
        if not self.owns_client:
            self.client.flush()  # the pipeline is shared: leave it running for its owner
            return
        self.client.shutdown()
        _forget_resources(self.client_key)
        if self.provider is not None:
            self.provider.shutdown()


def open_tracing(
    settings: Settings,
    secrets: Secrets,
    engine: Engine,
    clock: Clock,
    *,
    connection: LangfuseConnection | None = None,
    otlp: OtlpConnection | None = None,
) -> Tracing:
    """Tracing for this process, saying once what it does (on, off, or refused and why)."""
    connection = connection or resolve_connection(secrets)
    otlp = otlp or resolve_otlp(settings, secrets)
    announce(connection)
    announce_otlp(otlp)
    redactor = Redactor.from_settings(settings, secrets)
    spool = Spool(engine, clock, settings.tracing.spool_max_rows)
    trace_log = TraceLog(engine, clock, redactor)
    metadata = {"ambient_version": __version__, "model": settings.model_name[:150]}
    langfuse = provider = None
    owns_client = True
    identity = connection if connection.enabled else LOCAL_CLIENT
    if connection.enabled or otlp.enabled:
        langfuse, provider, owns_client = _langfuse_client(settings, identity, spool, redactor)
    tracer = ItemTracer(
        trace_log=trace_log,
        clock=clock,
        redactor=redactor,
        langfuse=langfuse,
        provider=provider,
        spool=spool,
        metadata=metadata,
        environment=settings.tracing.environment,
        scores=connection.enabled,
    )
    return Tracing(
        settings=settings,
        clock=clock,
        connection=connection,
        otlp=otlp,
        redactor=redactor,
        spool=spool,
        trace_log=trace_log,
        tracer=tracer,
        client=langfuse,
        provider=provider,
        owns_client=owns_client,
        client_key=identity.public_key,
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
    if connection is LOCAL_CLIENT and resources is not None:
        # the SDK would upload base64 media in span input to Langfuse itself: there is none
        resources._media_manager._enabled = False
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
