"""Tracing: one Langfuse trace per item, spooled locally so an outage loses nothing."""
