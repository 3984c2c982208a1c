"""The agent's typed decision about one item: what the TUI, `ambient items` and the ledger show."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

REASON_MAX_CHARS = 500
SUMMARY_MAX_CHARS = 200


def _shorten(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        value = " ".join(value.split())
        if len(value) > limit:
            return value[: limit - 1].rstrip() + "…"
    return value


class Triage(BaseModel):
    """ignore (nothing to do), notify (the user should see it) or act (drafted actions)."""

    decision: Literal["ignore", "notify", "act"] = Field(
        description=(
            "ignore: nothing for the user; notify: the user should read it, no action; "
            "act: you drafted actions for the user to approve"
        )
    )
    reason: str = Field(
        description=f"why, in one or two sentences (at most {REASON_MAX_CHARS} characters)"
    )
    priority: Literal["low", "normal", "high"] = Field(
        default="normal", description="how soon the user should look at it"
    )
    summary: str = Field(
        description=f"what the message is about, one line (at most {SUMMARY_MAX_CHARS} characters)"
    )

    # A long answer is shortened, not refused: a refusal costs a model request and teaches nothing.
    @field_validator("reason", mode="before")
    @classmethod
    def _short_reason(cls, value: Any) -> Any:
        return _shorten(value, REASON_MAX_CHARS)

    @field_validator("summary", mode="before")
    @classmethod
    def _short_summary(cls, value: Any) -> Any:
        return _shorten(value, SUMMARY_MAX_CHARS)


def provisional_triage(subject: str, rationales: list[str]) -> Triage:
    """The triage of a run that paused on drafted actions before the model stated one."""
    reason = next((text for text in rationales if text), "actions drafted for approval")
    summary = subject or "(no subject)"
    return Triage(decision="act", reason=reason, priority="normal", summary=summary)
