"""The span exporter the Langfuse client is given: spans go to the local spool, never the network.

The Langfuse span processor (its filter, attribute propagation, masking) runs as usual and hands
its batches here; each batch is encoded exactly as the SDK's own OTLP exporter would encode it,
redacted, and appended to the spool. The forwarder does the network part.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from sqlalchemy.exc import SQLAlchemyError

from ambient.tracing.redaction import Redactor
from ambient.tracing.spool import Spool
from ambient.tracing.tables import SpoolKind

log = logging.getLogger(__name__)


def encode_batch(spans: Sequence[ReadableSpan], redactor: Redactor) -> bytes:
    """Spans as an OTLP ExportTraceServiceRequest (protobuf bytes), secrets redacted."""
    request = encode_spans(spans)
    redactor.request(request)
    return bytes(request.SerializeToString())


class SpoolSpanExporter(SpanExporter):
    def __init__(self, spool: Spool, redactor: Redactor) -> None:
        self.spool = spool
        self.redactor = redactor
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed or not spans:
            return SpanExportResult.SUCCESS
        try:
            payload = encode_batch(spans, self.redactor)
            self.spool.append(SpoolKind.SPANS, payload, len(spans))
        except (SQLAlchemyError, OSError) as error:
            log.error("tracing: %d span(s) could not be spooled: %s", len(spans), error)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._closed = True

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every export is already durable when it returns
