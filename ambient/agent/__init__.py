"""The agent: triage and drafted actions, as a Pydantic AI agent over the user's memory."""

# The prompt's framing tag is registered when the package is imported, before any text is
# framed (pydantic_ai.framing.register_tag warns when a tag is registered later).
from ambient.agent import prompt as _prompt  # noqa: F401
