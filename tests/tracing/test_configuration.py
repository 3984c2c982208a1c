"""Tracing is on only with keys and a base URL; without them it says so and records locally."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine

from ambient.core.config import Secrets, Settings
from ambient.core.ids import trace_id_for_item
from ambient.tracing.assembly import open_tracing
from ambient.tracing.connection import TracingState, resolve_connection
from ambient.tracing.tracer import ItemRef
from tests.conftest import FrozenClock

KEYS = {"LANGFUSE_PUBLIC_KEY": "pk-lf-1", "LANGFUSE_SECRET_KEY": "sk-lf-1"}


def test_keys_without_a_base_url_refuse_tracing_instead_of_using_the_cloud(
    settings: Settings, engine: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ambient.tracing"):
        tracing = open_tracing(settings, Secrets(KEYS), engine, clock)

    assert tracing.connection.state is TracingState.REFUSED
    assert not tracing.tracer.enabled
    assert tracing.forwarder() is None
    (record,) = [r for r in caplog.records if r.name == "ambient.tracing.connection"]
    assert record.levelno == logging.ERROR
    assert "the keys are set but LANGFUSE_BASE_URL is not" in record.getMessage()
    assert "cloud" in record.getMessage()
    assert "sk-lf-1" not in caplog.text
    tracing.close()


@pytest.mark.parametrize(
    ("variables", "state", "reason"),
    [
        ({}, TracingState.OFF, "are not set"),
        ({"LANGFUSE_PUBLIC_KEY": "pk"}, TracingState.REFUSED, "LANGFUSE_SECRET_KEY is not set"),
        ({**KEYS, "LANGFUSE_BASE_URL": "langfuse:3000"}, TracingState.REFUSED, "http(s) URL"),
        ({**KEYS, "LANGFUSE_BASE_URL": "http://lf:3000/"}, TracingState.ON, "http://lf:3000"),
        ({**KEYS, "LANGFUSE_HOST": "https://lf.example"}, TracingState.ON, "lf.example"),
    ],
)
def test_the_environment_decides_whether_tracing_is_on(
    variables: dict[str, str], state: TracingState, reason: str
) -> None:
    connection = resolve_connection(Secrets(variables))
    assert connection.state is state
    assert reason in connection.reason
    assert "sk-lf-1" not in repr(connection)


def test_tracing_off_says_so_once_and_still_records_every_step_locally(
    settings: Settings, engine: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ambient.tracing"):
        tracing = open_tracing(settings, Secrets({}), engine, clock)
    tracer = tracing.tracer
    item = ItemRef(trace_id=trace_id_for_item("inbox", "k"), source="inbox", key="k", item_id=3)

    with tracer.item_span(item, input={"subject": "hi"}) as root:
        with tracer.step(item, "agent run", as_type="agent") as run:
            run.update(output={"decision": "act"})
        root.update(output={"state": "awaiting_approval"})
    tracer.score_decision(item.trace_id, "feedback", "not this week", approval_id=9, item_id=3)

    messages = [r.getMessage() for r in caplog.records if r.name == "ambient.tracing.connection"]
    assert messages == [
        "tracing to Langfuse is off: LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are not set "
        "(the local trace log still records every step)"
    ]
    assert tracer.agent_capabilities() == []
    assert tracing.forwarder() is None
    assert tracing.spool.counts().rows == 0
    events = list(reversed(tracing.trace_log.events(trace_id=item.trace_id)))
    assert [(event.kind, event.name) for event in events] == [
        ("step", "agent run"),
        ("item", "item"),
        ("score", "human_decision"),
    ]
    assert events[0].detail["output"] == {"decision": "act"}
    assert events[1].detail["output"] == {"state": "awaiting_approval"}
    assert events[2].detail == {
        "decision": "feedback",
        "comment": "not this week",
        "approval_id": 9,
    }
    assert all(event.item_id == 3 for event in events)
    tracing.close()


def test_a_failing_step_is_marked_as_an_error_and_the_error_goes_on(
    settings: Settings, engine: Engine, clock: FrozenClock
) -> None:
    tracing = open_tracing(settings, Secrets({}), engine, clock)
    item = ItemRef(trace_id=trace_id_for_item("inbox", "k"), source="inbox", key="k")

    with pytest.raises(TimeoutError), tracing.tracer.step(item, "execution"):
        raise TimeoutError("smtp server did not answer")

    (event,) = tracing.trace_log.events(trace_id=item.trace_id)
    assert (event.name, event.status) == ("execution", "error")
    assert event.detail["error"] == "TimeoutError: smtp server did not answer"
    tracing.close()


def test_a_step_for_an_unknown_item_is_logged_and_the_caller_goes_on(
    settings: Settings, engine: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    tracing = open_tracing(settings, Secrets({}), engine, clock)

    tracing.tracer.record_step(404, "execution", output={"sent": True})
    assert tracing.tracer.record_decision(404, approval_id=1, decision="approved") == ""

    assert tracing.trace_log.events() == []
    assert "item 404 does not exist; step not traced" in caplog.text
    tracing.close()
