"""What a part needs to record a step on an item's trace (ambient.tracing's ItemTracer).

Parts that only record steps (the daemon, memory reflection, approvals events) depend on this
small protocol rather than on the tracer, so they stay testable with any recorder.
"""

from __future__ import annotations

from typing import Any, Protocol


class StepRecorder(Protocol):
    @property
    def enabled(self) -> bool:
        """True when steps go on to a backend, Langfuse or OTLP (False: only the local trace
        log keeps them)."""
        ...

    def record_step(
        self,
        item: int,
        name: str,
        *,
        input: Any = None,
        output: Any = None,
        error: str | None = None,
    ) -> None: ...
