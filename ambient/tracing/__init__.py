"""Tracing: one trace per item, to Langfuse and/or any OTLP backend, spooled locally so an outage
loses nothing."""
