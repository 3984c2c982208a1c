"""Any OTLP/HTTP endpoint by one setting or the standard OTEL_* variables: where it is, its
headers (secrets: never shown, never traced), and tracing with no Langfuse keys at all."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from sqlalchemy import Engine

from ambient.core.config import Secrets, Settings
from ambient.tracing.assembly import open_tracing
from ambient.tracing.connection import TracingState
from ambient.tracing.otlp import resolve_otlp
from ambient.tracing.redaction import REDACTED
from ambient.tracing.tables import SpoolKind
from ambient.tracing.tracer import ItemRef
from tests.conftest import FrozenClock
from tests.servers.langfuse_receiver import LangfuseProject
from tests.tracing.conftest import claim_item

TOKEN = "otlp-token-s3cr3t"
RECEIVER_TRACES_PATH = "/api/public/otel/v1/traces"  # the loopback receiver's OTLP endpoint


@pytest.mark.parametrize(
    ("setting", "variables", "url"),
    [
        ("http://mlflow:5000", {}, "http://mlflow:5000/v1/traces"),
        ("http://phoenix:6006/v1/traces/", {}, "http://phoenix:6006/v1/traces"),
        (
            "http://a:1",
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:4318/"},
            "http://b:4318/v1/traces",
        ),
        (
            None,
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c/custom/path",
            },
            "https://c/custom/path",
        ),
    ],
)
def test_the_standard_variables_override_the_setting_by_the_otlp_rules(
    settings: Settings, setting: str | None, variables: dict[str, str], url: str
) -> None:
    settings.tracing.otlp_endpoint = setting
    connection = resolve_otlp(settings, Secrets(variables))
    assert connection.state is TracingState.ON
    assert connection.traces_url == url


def test_without_an_endpoint_otlp_tracing_is_off_and_says_nothing(
    settings: Settings, engine: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ambient.tracing"):
        tracing = open_tracing(settings, Secrets({}), engine, clock)
    assert tracing.otlp.state is TracingState.OFF
    assert not [record for record in caplog.records if record.name == "ambient.tracing.otlp"]
    tracing.close()


def test_header_values_never_show_in_a_message_or_a_repr(settings: Settings) -> None:
    settings.tracing.otlp_endpoint = "http://collector:4318"
    variables = {
        "OTEL_EXPORTER_OTLP_HEADERS": "x-ignored=1",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"Authorization=Bearer%20{TOKEN}, x-team = ops",
    }
    connection = resolve_otlp(settings, Secrets(variables))

    assert connection.headers == {"authorization": f"Bearer {TOKEN}", "x-team": "ops"}
    assert connection.reason == (
        "tracing over OTLP to http://collector:4318/v1/traces (headers: authorization, x-team)"
    )
    assert TOKEN not in repr(connection)


@pytest.mark.parametrize(
    ("variables", "reason"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "expected an http(s) URL"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
                "OTEL_EXPORTER_OTLP_HEADERS": f"x-team=ops,{TOKEN}",
            },
            "OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not name=value",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
                "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd",
            },
            "expected gzip or none, got 'zstd'",
        ),
    ],
)
def test_a_misconfigured_endpoint_refuses_otlp_tracing_and_says_why(
    settings: Settings,
    engine: Engine,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
    variables: dict[str, str],
    reason: str,
) -> None:
    with caplog.at_level(logging.INFO, logger="ambient.tracing"):
        tracing = open_tracing(settings, Secrets(variables), engine, clock)

    assert tracing.otlp.state is TracingState.REFUSED
    assert tracing.forwarder() is None and not tracing.tracer.enabled
    (record,) = [r for r in caplog.records if r.name == "ambient.tracing.otlp"]
    assert record.levelno == logging.ERROR and reason in record.getMessage()
    assert TOKEN not in caplog.text
    tracing.close()


async def test_an_otlp_endpoint_alone_gets_every_span_once_with_its_headers_and_no_secret(
    tracing_settings: Settings,
    langfuse_project: LangfuseProject,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    # the loopback receiver's OTLP endpoint stands in for any backend; its credentials go as
    # a plain header, the way any OTLP backend takes a token
    credentials = f"{langfuse_project.public_key}:{langfuse_project.secret_key}"
    authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
    variables = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": langfuse_project.base_url + RECEIVER_TRACES_PATH,
        "OTEL_EXPORTER_OTLP_HEADERS": f"authorization={authorization},x-token={TOKEN}",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    }
    tracing = open_tracing(tracing_settings, Secrets(variables), engine, clock)
    forwarder = tracing.forwarder()
    assert tracing.connection.state is TracingState.OFF  # no Langfuse keys
    assert tracing.tracer.enabled and forwarder is not None
    item = ItemRef.of(claim_item(engine, clock, tracing_settings))
    try:
        with tracing.tracer.item_span(item, input={"key": item.key}) as root:
            output = {"approval_id": 1, "note": f"the token is {TOKEN}"}
            tracing.tracer.record_step(item, "agent.drafts", output=output)
            root.update(output={"state": "awaiting_approval"})
        assert item.item_id is not None
        details = {"decided_by": "me"}
        tracing.tracer.record_decision(
            item.item_id, approval_id=1, decision="reject", details=details
        )
        tracing.tracer.finish_item(item, "done")  # the root again, with its final state
        assert tracing.spool.counts().scores == 0  # decisions live on the span, no scores
        assert await forwarder.tick() == 4
    finally:
        await forwarder.aclose()
        tracing.close()

    received = langfuse_project.received
    (request,) = received.span_requests
    assert request["x-token"] == TOKEN and request["content-encoding"] == "gzip"
    assert sorted(span.name for span in received.spans) == [
        "agent.drafts",
        "human decision",
        "item",  # once: the root's last copy, with the item's final state
    ]
    (root,) = [span for span in received.spans if span.name == "item"]
    assert root.json_attribute("langfuse.observation.output") == {"state": "done"}
    (decision,) = [span for span in received.spans if span.name == "human decision"]
    assert decision.attributes["ambient.decision.value"] == "rejected"
    assert decision.attributes["ambient.decision.decided_by"] == "me"
    everything = json.dumps([span.attributes for span in received.spans], default=str)
    assert TOKEN not in everything and REDACTED in everything
    assert tracing.spool.counts().rows == 0
    assert tracing.spool.pending("otlp", SpoolKind.SPANS) == 0
