"""call_webhook: one POST of a JSON payload to an allow-listed URL, once the human approves.

A URL is allowed when it is under one ``policy.webhook_allowlist`` entry (same scheme, host and
port; the path on a segment boundary; never with credentials, ``..`` or encoded dots): checked
when drafted, when queued and when run. Its payload has no natural text form, so a human edits
it as TOML. Exactly once as far as the receiver allows: redirects are not followed (one could
leave the allow-list); a 2xx is done; 408, 425, 429, 5xx and network errors are retried with the
same ``Idempotency-Key`` header, so a receiver that honours it acts once even when ambient sends
twice (a timeout after the receiver acted is the case that needs it); other answers are final.
A payload that repeats private text the run read (``private_memory_in_draft``) is a warning.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import Field

from ambient import __version__
from ambient.approvals.executors import (
    ExecutionError,
    ExecutionResult,
    Executor,
    PermanentExecutionError,
)
from ambient.approvals.kinds.base import (
    PRIVATE_TEXT,
    RATIONALE_HELP,
    ActionArguments,
    ActionKind,
    DraftItem,
    DraftToFix,
    ExecutorParts,
    Kind,
    PolicyCheck,
    string_values,
)
from ambient.approvals.shown import canonical_json
from ambient.approvals.tables import Approval
from ambient.core.config import Settings

if TYPE_CHECKING:
    import httpx

RESPONSE_CHARS = 500
RETRYABLE = frozenset({408, 425, 429})


class CallWebhook(ActionArguments):
    url: str = Field(min_length=1, max_length=2000, description="A URL from the allow-list.")
    payload: dict[str, Any] = Field(description="The JSON object to POST.")


class CallWebhookDraft(CallWebhook):
    rationale: str = Field(description=RATIONALE_HELP)


def url_allowed(url: str, allowlist: Iterable[str]) -> bool:
    """True when `url` is under one allow-list entry: same scheme, host and port, path prefix
    on a segment boundary; never with credentials, `..` segments or encoded dots."""
    try:
        target = urlsplit(url)
        target_port = target.port
    except ValueError:
        return False
    if target.scheme not in ("http", "https") or not target.hostname:
        return False
    if target.username or target.password or "\\" in url:
        return False
    lowered_path = target.path.lower()
    if "%2e" in lowered_path or "%2f" in lowered_path or ".." in target.path.split("/"):
        return False
    for entry in allowlist:
        try:
            allowed = urlsplit(entry)
            allowed_port = allowed.port
        except ValueError:
            continue
        if (allowed.scheme, (allowed.hostname or "").lower()) != (target.scheme, target.hostname):
            continue
        if (allowed_port or _default_port(allowed.scheme)) != (
            target_port or _default_port(target.scheme)
        ):
            continue
        prefix = allowed.path.rstrip("/")
        if not prefix or target.path == prefix or target.path.startswith(prefix + "/"):
            return True
    return False


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


class CallWebhookKind(Kind[CallWebhook]):
    name = ActionKind.CALL_WEBHOOK
    label = "webhook"
    order = 40
    arguments = CallWebhook
    draft = CallWebhookDraft
    description = "Draft a POST of a JSON payload to an allow-listed URL. Runs only after approval."
    prompt_hint = "only allow-listed URLs"
    body_field = "payload"
    rules = {
        "webhook_not_allowed": "block",
        "body_too_large": "block",
        "private_memory_in_draft": "warn",
    }

    def check_draft(self, draft: CallWebhook, item: DraftItem, settings: Settings) -> None:
        allowlist = settings.policy.webhook_allowlist
        if url_allowed(draft.url, allowlist):
            return
        if not allowlist:
            raise DraftToFix("call_webhook: no webhook URLs are allowed in this configuration")
        allowed = ", ".join(allowlist)
        raise DraftToFix(
            f"call_webhook: {draft.url!r} is not in the allow-list (allowed: {allowed})"
        )

    def approved(self, args: dict[str, Any]) -> str:
        return f"POST to {args['url']}"

    def concerns(self, args: dict[str, Any]) -> str:
        return urlsplit(str(args.get("url", ""))).netloc or str(args.get("url", ""))

    def summary(self, args: dict[str, Any], fallback: str = "") -> str:
        return urlsplit(str(args.get("url", ""))).path or fallback

    def headline(self, args: dict[str, Any]) -> str:
        return f"POST {args.get('url', '')}"

    def outgoing_texts(self, args: dict[str, Any]) -> list[str]:
        return list(string_values(args.get("payload") or {}))

    def autonomy_scope(self, args: dict[str, Any]) -> str | None:
        """The endpoint: scheme, host, port and path (never the query, which may vary). The
        payload is the model's, so it earns autonomy only when ``autonomy.kinds`` names it."""
        try:
            url = urlsplit(str(args.get("url", "")))
            port = url.port
        except ValueError:
            return None
        if url.scheme not in ("http", "https") or not url.hostname or url.username:
            return None
        host = url.hostname + (f":{port}" if port else "")
        return f"{url.scheme}://{host}{url.path or '/'}"

    def check(self, action: CallWebhook, check: PolicyCheck) -> None:
        if not url_allowed(action.url, check.policy.webhook_allowlist):
            check.add("webhook_not_allowed", f"{action.url!r} is not on policy.webhook_allowlist")
        check.size(len(canonical_json(action.payload)), "payload")
        copied = check.copied_private_text(string_values(action.payload))
        if copied:
            check.add(
                "private_memory_in_draft",
                f"posts {PRIVATE_TEXT} word for word ({copied}) to {action.url}",
            )

    def build_executor(self, parts: ExecutorParts) -> Executor:
        return WebhookExecutor(parts.settings.outbox.webhook_timeout_seconds)


KIND = CallWebhookKind()


class WebhookExecutor:
    def __init__(self, timeout_seconds: float, transport: httpx.AsyncBaseTransport | None = None):
        self.timeout_seconds = timeout_seconds
        self.transport = transport

    async def execute(self, approval: Approval, idempotency_key: str) -> ExecutionResult:
        action = KIND.parse(approval.effective_args)
        headers = {"Idempotency-Key": idempotency_key, "User-Agent": f"ambient/{__version__}"}
        import httpx  # here, not with the kind: every command reads the kinds, few post

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
