"""What never leaves the machine in a trace: secret values and the configured patterns.

Secret values are those of the variables named as secrets, the secrets written in ambient.toml
itself (an ``[[mcp]]`` server's literal headers and secret-looking env values) and every OTLP
header value.
Redaction runs on the serialized OTLP request (every string attribute, event, status message
and span name of every span, whichever library made it) and on score comments, once, before the
spool: nothing reaches the spool, let alone any destination, unredacted.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from ambient.core.config import Secrets, Settings, literal_secret_values
from ambient.core.config import secret_names as secret_names  # the one rule of what is secret
from ambient.core.errors import ConfigError
from ambient.tracing.otlp import header_values

log = logging.getLogger(__name__)

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary text


class Redactor:
    """Replaces secret values (raw and JSON-escaped) and regex patterns with [REDACTED]."""

    def __init__(self, secret_values: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
        literals: set[str] = set()
        for value in secret_values:
            if len(value) < MIN_SECRET_LENGTH:
                continue
            literals.add(value)
            literals.add(json.dumps(value)[1:-1])  # as it appears inside a JSON string
        alternatives = [re.escape(text) for text in sorted(literals, key=len, reverse=True)]
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ConfigError(
                    f"tracing.redact_patterns: {pattern!r}: not a valid regular expression: {error}"
                ) from error
            alternatives.append(f"(?:{pattern})")
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None

    @classmethod
    def from_settings(cls, settings: Settings, secrets: Secrets) -> Redactor:
        values = []
        for name in sorted(secret_names(settings, secrets)):
            value = secrets.get(name)
            if value is None:
                continue
            if len(value) < MIN_SECRET_LENGTH:
                log.warning("tracing: %s is too short to redact reliably from traces", name)
                continue
            values.append(value)
        literal = literal_secret_values(settings)  # written in ambient.toml ([[mcp]] headers)
        return cls([*values, *literal, *header_values(secrets)], settings.tracing.redact_patterns)

    def text(self, value: str) -> str:
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(REDACTED, value)

    def value(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value (dicts, lists, scalars)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(key)): self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value

    def request(self, request: ExportTraceServiceRequest) -> None:
        """Redact an OTLP export request in place."""
        if self._pattern is None:
            return
        for resource_spans in request.resource_spans:
            self._attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                self._attributes(scope_spans.scope.attributes)
                for span in scope_spans.spans:
                    span.name = self.text(span.name)
                    span.status.message = self.text(span.status.message)
                    self._attributes(span.attributes)
                    for event in span.events:
                        event.name = self.text(event.name)
                        self._attributes(event.attributes)
                    for link in span.links:
                        self._attributes(link.attributes)

    def _attributes(self, attributes: Iterable[KeyValue]) -> None:
        for attribute in attributes:
            self._any_value(attribute.value)

    def _any_value(self, value: AnyValue) -> None:
        which = value.WhichOneof("value")
        if which == "string_value":
            value.string_value = self.text(value.string_value)
        elif which == "array_value":
            for item in value.array_value.values:
                self._any_value(item)
        elif which == "kvlist_value":
            self._attributes(value.kvlist_value.values)
