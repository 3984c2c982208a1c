"""Imports every table module so SQLModel.metadata is complete (migrations, schema checks)."""

from ambient import items  # noqa: F401
