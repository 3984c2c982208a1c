"""Whether (and where) to send traces to any OpenTelemetry backend over OTLP/HTTP.

The endpoint is ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (the traces URL, as it is), else
``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL: ``/v1/traces`` is added), else ``[tracing]
otlp_endpoint`` (either: a URL already ending in ``/v1/traces`` is kept). Headers come from
``OTEL_EXPORTER_OTLP_TRACES_HEADERS``, else ``OTEL_EXPORTER_OTLP_HEADERS``, in the standard
format (``name=value`` pairs, comma-separated, values URL-encoded); compression from
``OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION`` (``gzip`` or ``none``, the default). Header values
are secrets: no message, repr or trace ever shows one (the redactor blanks them out of traces).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from ambient.core.config import Secrets, Settings
from ambient.tracing.connection import TracingState

log = logging.getLogger(__name__)

TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_HEADERS = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
TRACES_COMPRESSION = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
COMPRESSION = "OTEL_EXPORTER_OTLP_COMPRESSION"
HEADER_VARIABLES = (TRACES_HEADERS, HEADERS)
SETTING = "tracing.otlp_endpoint"

TRACES_PATH = "/v1/traces"
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP token


class HeaderError(ValueError):
    """A header entry that is not ``name=value``; says which one, never its value."""


@dataclass(frozen=True)
class OtlpConnection:
    """Where traces go besides Langfuse. Header values never appear in a repr."""

    state: TracingState
    reason: str
    traces_url: str = ""
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    gzip: bool = False

    @property
    def enabled(self) -> bool:
        return self.state is TracingState.ON


def parse_headers(text: str, variable: str) -> dict[str, str]:
    """``name=value,name2=value2`` (values URL-encoded; a raw space is accepted too)."""
    headers: dict[str, str] = {}
    for position, entry in enumerate(text.split(","), start=1):
        if not entry.strip():
            continue
        name, equals, value = entry.partition("=")
        name = unquote(name).strip()
        if not equals or not _HEADER_NAME.match(name):
            raise HeaderError(
                f"{variable}: entry {position} is not name=value (expected e.g. "
                "'authorization=Bearer%20<token>,x-mlflow-experiment-id=<id>')"
            )
        headers[name.lower()] = unquote(value).strip()
    return headers


def header_values(secrets: Secrets) -> list[str]:
    """Every configured header value (what the redactor keeps out of traces); a value with an
    auth scheme in front ("Bearer <token>") gives its token too."""
    values: list[str] = []
    for variable in HEADER_VARIABLES:
        text = secrets.get(variable)
        if not text:
            continue
        values.append(text)
        try:
            parsed = parse_headers(text, variable)
        except HeaderError:
            continue
        for value in parsed.values():
            values.append(value)
            scheme, _, token = value.partition(" ")
            if scheme and token.strip():
                values.append(token.strip())
    return values


def _traces_url(settings: Settings, secrets: Secrets) -> tuple[str, str] | None:
    """(the traces URL, where it came from), or None when no endpoint is configured."""
    if url := secrets.get(TRACES_ENDPOINT):
        return url, TRACES_ENDPOINT
    if base := secrets.get(ENDPOINT):
        return base.rstrip("/") + TRACES_PATH, ENDPOINT
    if configured := settings.tracing.otlp_endpoint:
        configured = configured.rstrip("/")
        if not configured.endswith(TRACES_PATH):
            configured += TRACES_PATH
        return configured, SETTING
    return None


def shown_url(url: str) -> str:
    """The URL without credentials or a query, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def resolve_otlp(settings: Settings, secrets: Secrets) -> OtlpConnection:
    """Decide from the settings and the environment / .env whether to send traces over OTLP."""
    found = _traces_url(settings, secrets)
    if found is None:
        return OtlpConnection(TracingState.OFF, "tracing over OTLP is off: no endpoint is set")
    url, origin = found
    if not url.startswith(("http://", "https://")) or not urlsplit(url).hostname:
        return OtlpConnection(
            TracingState.REFUSED,
            f"tracing over OTLP refused: {origin}: expected an http(s) URL, got {shown_url(url)!r}",
        )
    variable = TRACES_HEADERS if secrets.get(TRACES_HEADERS) else HEADERS
    try:
        headers = parse_headers(secrets.get(variable) or "", variable)
    except HeaderError as error:
        return OtlpConnection(TracingState.REFUSED, f"tracing over OTLP refused: {error}")
    variable = TRACES_COMPRESSION if secrets.get(TRACES_COMPRESSION) else COMPRESSION
    compression = (secrets.get(variable) or "none").strip().lower()
    if compression not in ("gzip", "none"):
        return OtlpConnection(
            TracingState.REFUSED,
            f"tracing over OTLP refused: {variable}: expected gzip or none, got {compression!r}",
        )
    named = f" (headers: {', '.join(sorted(headers))})" if headers else ""
    return OtlpConnection(
        TracingState.ON,
        f"tracing over OTLP to {shown_url(url)}{named}",
        traces_url=url,
        headers=headers,
        gzip=compression == "gzip",
    )


def announce_otlp(connection: OtlpConnection) -> None:
    """Say once, at start-up, what OTLP tracing does (nothing when no endpoint is set)."""
    if connection.state is TracingState.REFUSED:
        log.error(connection.reason)
    elif connection.enabled:
        log.info(connection.reason)
