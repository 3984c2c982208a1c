"""Evaluation: datasets from the user's own decisions."""

# Here, not in `export`, so that the CLI's parser can show it without importing the agent.
DEFAULT_DATASET = "ambient-decisions"
