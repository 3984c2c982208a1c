"""Evaluation: datasets from the user's own decisions."""
