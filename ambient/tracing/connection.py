"""Whether (and where) to send traces: LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, LANGFUSE_BASE_URL.

The SDK on its own falls back to the public cloud when no base URL is given; ambient never does.
Keys without a base URL mean "refuse to trace, and say why", never "send to the cloud".
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from enum import StrEnum

from ambient import __version__
from ambient.core.config import Secrets

log = logging.getLogger(__name__)

PUBLIC_KEY = "LANGFUSE_PUBLIC_KEY"
SECRET_KEY = "LANGFUSE_SECRET_KEY"
BASE_URL = "LANGFUSE_BASE_URL"
LEGACY_HOST = "LANGFUSE_HOST"  # the SDK's older name for the base URL

OTEL_TRACES_PATH = "/api/public/otel/v1/traces"


class TracingState(StrEnum):
    ON = "on"
    OFF = "off"  # no keys: nothing leaves the machine; the local trace log still records
    REFUSED = "refused"  # misconfigured: tracing to Langfuse is off, and the reason is logged


@dataclass(frozen=True)
class LangfuseConnection:
    """Where traces go. The secret key never appears in a repr."""

    state: TracingState
    reason: str
    public_key: str = ""
    secret_key: str = field(default="", repr=False)
    base_url: str = ""

    @property
    def enabled(self) -> bool:
        return self.state is TracingState.ON

    @property
    def traces_url(self) -> str:
        return self.base_url + OTEL_TRACES_PATH

    def headers(self) -> dict[str, str]:
        """The headers the Langfuse SDK's own OTLP exporter sends (basic auth and SDK ids)."""
        token = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode("ascii")
        return {
            "Authorization": f"Basic {token}",
            "x-langfuse-sdk-name": "python",
            "x-langfuse-sdk-version": _sdk_version(),
            "x-langfuse-public-key": self.public_key,
            "x-langfuse-ingestion-version": "4",
            "User-Agent": f"ambient/{__version__}",
        }


def _sdk_version() -> str:
    from langfuse._version import __version__ as langfuse_version

    return str(langfuse_version)


def resolve_connection(secrets: Secrets) -> LangfuseConnection:
    """Decide from the environment / .env whether tracing to Langfuse is on."""
    public_key = secrets.get(PUBLIC_KEY)
    secret_key = secrets.get(SECRET_KEY)
    base_url = secrets.get(BASE_URL) or secrets.get(LEGACY_HOST)
    if not public_key and not secret_key:
        return LangfuseConnection(
            TracingState.OFF,
            f"tracing to Langfuse is off: {PUBLIC_KEY} and {SECRET_KEY} are not set "
            "(the local trace log still records every step)",
        )
    if not public_key or not secret_key:
        missing = PUBLIC_KEY if not public_key else SECRET_KEY
        return LangfuseConnection(
            TracingState.REFUSED,
            f"tracing to Langfuse refused: {missing} is not set (both keys are needed)",
        )
    if not base_url:
        return LangfuseConnection(
            TracingState.REFUSED,
            f"tracing to Langfuse refused: the keys are set but {BASE_URL} is not; set it to "
            "your Langfuse server (ambient never falls back to the public cloud)",
        )
    if not base_url.startswith(("http://", "https://")):
        return LangfuseConnection(
            TracingState.REFUSED,
            f"tracing to Langfuse refused: {BASE_URL}: expected an http(s) URL, got {base_url!r}",
        )
    return LangfuseConnection(
        TracingState.ON,
        f"tracing to Langfuse at {base_url.rstrip('/')}",
        public_key=public_key,
        secret_key=secret_key,
        base_url=base_url.rstrip("/"),
    )


def announce(connection: LangfuseConnection) -> None:
    """Say once, at start-up, what tracing does in this process."""
    if connection.state is TracingState.REFUSED:
        log.error(connection.reason)
    else:
        log.info(connection.reason)
