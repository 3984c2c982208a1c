"""An HTTP POST as ntfy reads it: the alert's text as the body, its title, priority and tags
in the ``Title``, ``Priority`` and ``Tags`` headers, and a bearer token when one is configured.

Any receiver that reads those headers (ntfy itself, self-hosted or ntfy.sh; a small webhook)
works. The token and the URL's path (an ntfy topic is as good as a password) never appear in
an error: only the host does.
"""

from __future__ import annotations

from email.header import Header
from urllib.parse import urlsplit

import httpx

from ambient.core.alert_settings import NtfyPriority
from ambient.daemon.alerts.channel import Alert, AlertChannelError, Urgency

BODY_TAIL_CHARS = 200


def header_text(text: str) -> str:
    """A header value: as it is when it is ASCII, else RFC 2047 encoded (ntfy decodes it)."""
    return text if text.isascii() else Header(text, "utf-8").encode()


def ntfy_priority(urgency: Urgency, configured: NtfyPriority) -> str:
    return {"low": "low", "normal": configured, "critical": "urgent"}[urgency]


class HttpChannel:
    name = "http"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        priority: NtfyPriority = "default",
        timeout_seconds: float = 10.0,
    ) -> None:
        self.url = url
        self.host = urlsplit(url).netloc
        self._token = token
        self.priority = priority
        self.timeout_seconds = timeout_seconds

    def __repr__(self) -> str:
        return f"HttpChannel(host={self.host!r})"

    def headers(self, alert: Alert) -> dict[str, str]:
        headers = {
            "Title": header_text(alert.title),
            "Priority": ntfy_priority(alert.urgency, self.priority),
            "Tags": ",".join(("ambient", *alert.tags)),
            "Content-Type": "text/plain; charset=utf-8",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    async def send(self, alert: Alert) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
                response = await client.post(
                    self.url, content=alert.body.encode(), headers=self.headers(alert)
                )
        except httpx.TimeoutException:
            raise AlertChannelError(
                f"http: {self.host} did not answer within {self.timeout_seconds:g} s"
            ) from None
        except httpx.HTTPError as error:
            reason = str(error).replace(self.url, self.host) or type(error).__name__
            raise AlertChannelError(f"http: cannot reach {self.host}: {reason}") from None
        if response.status_code >= 300:
            text = " ".join(response.text.split())[:BODY_TAIL_CHARS]
            said = f": {text}" if text else ""
            raise AlertChannelError(
                f"http: {self.host} answered {response.status_code} {response.reason_phrase}{said}"
            )
