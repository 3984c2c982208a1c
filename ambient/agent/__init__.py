"""The agent: triage and drafted actions, as a Pydantic AI agent over the user's memory."""
