"""What the agent and the models standing in for one agree on: token estimates, fixed wording.

The demo model (`test`) reads the agent's conversation as a real model would; it recognises a
draft the user answered with feedback by the sentence the agent opens that answer with.
"""

from __future__ import annotations

FEEDBACK_PREFIX = "The user did not approve this draft and answered with feedback: "


def estimate_tokens(text: str) -> int:
    """A provider-neutral estimate: about four characters per token."""
    return (len(text) + 3) // 4
