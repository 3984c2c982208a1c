"""Imports every table module so SQLModel.metadata is complete (migrations, schema checks).

Every package keeps its SQLModel tables in `<package>/tables.py`.
"""

from ambient.approvals import tables as approvals_tables  # noqa: F401
from ambient.core import tables as core_tables  # noqa: F401
from ambient.daemon import tables as daemon_tables  # noqa: F401
from ambient.daemon.alerts import tables as alert_tables  # noqa: F401
from ambient.memory import tables as memory_tables  # noqa: F401
from ambient.tracing import tables as tracing_tables  # noqa: F401
