"""call_webhook: one POST of the approved JSON payload, with the idempotency key as a header.

Redirects are not followed (a redirect could leave the allow-list). A 2xx is done; 408, 429,
5xx and network errors are retried with the same ``Idempotency-Key``, so a receiver that
honours the header acts once even when ambient sends twice (a timeout after the receiver acted
is the case that needs it); other answers are final.
"""

from __future__ import annotations

import httpx

from ambient import __version__
from ambient.approvals.actions import CallWebhook, parse_action
from ambient.approvals.executors import ExecutionError, ExecutionResult, PermanentExecutionError
from ambient.approvals.tables import Approval

RESPONSE_CHARS = 500
RETRYABLE = frozenset({408, 425, 429})


class WebhookExecutor:
    def __init__(self, timeout_seconds: float, transport: httpx.AsyncBaseTransport | None = None):
        self.timeout_seconds = timeout_seconds
        self.transport = transport

    async def execute(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        action = parse_action(approval.kind, approval.effective_args)
        assert isinstance(action, CallWebhook)
        headers = {"Idempotency-Key": idempotency_key, "User-Agent": f"ambient/{__version__}"}
        async with httpx.AsyncClient(
            timeout=self.timeout_seconds, follow_redirects=False, transport=self.transport
        ) as client:
            try:
                response = await client.post(action.url, json=action.payload, headers=headers)
            except httpx.TimeoutException as error:
                raise ExecutionError(
                    f"webhook timed out after {self.timeout_seconds:g}s: {error}"
                ) from None
            except httpx.HTTPError as error:
                raise ExecutionError(
                    f"webhook unreachable: {type(error).__name__}: {error}"
                ) from None
        status = response.status_code
        body = response.text[:RESPONSE_CHARS]
        if 200 <= status < 300:
            return ExecutionResult(
                f"webhook answered {status}", {"url": action.url, "status": status, "body": body}
            )
        message = f"webhook answered {status} {response.reason_phrase}: {body[:200]}"
        if status >= 500 or status in RETRYABLE:
            raise ExecutionError(message)
        raise PermanentExecutionError(message)
