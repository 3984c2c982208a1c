"""MLflow's own client, run with the MLflow venv's Python (not the project's): read traces back.

    .venv-mlflow/bin/python tests/servers/mlflow_client.py TRACKING_URL EXPERIMENT_ID

prints every trace of the experiment as JSON: its id and state, and each span's name, ids,
type, status, inputs, outputs, attributes and events, as `mlflow.search_traces` returns them.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import mlflow


def span_json(span: Any) -> dict[str, Any]:
    return {
        "name": span.name,
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "span_type": span.span_type,
        "status": str(span.status.status_code),
        "inputs": span.inputs,
        "outputs": span.outputs,
        "attributes": span.attributes,
        "events": [{"name": event.name, "attributes": event.attributes} for event in span.events],
    }


def main(tracking_url: str, experiment_id: str) -> None:
    mlflow.set_tracking_uri(tracking_url)
    traces = mlflow.search_traces(locations=[experiment_id], return_type="list")
    found = [
        {
            "trace_id": trace.info.trace_id,
            "state": str(trace.info.state),
            "spans": [span_json(span) for span in trace.data.spans],
        }
        for trace in traces
    ]
    print(json.dumps(found, default=str))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
