"""Imports every table module so SQLModel.metadata is complete (migrations, schema checks)."""

from ambient.approvals import tables as approvals_tables  # noqa: F401
from ambient.core import items  # noqa: F401
from ambient.memory import reproposals as memory_reproposals  # noqa: F401
from ambient.tracing import tables as tracing_tables  # noqa: F401
