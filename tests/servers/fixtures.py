"""Real servers on loopback, each started once per test session (Dovecot, SMTP, Langfuse, PG,
MLflow, a D-Bus session bus).

Each server module lives beside this one; this file only collects their fixtures.
"""

from __future__ import annotations

from tests.servers.dbus import session_bus  # noqa: E402,F401
from tests.servers.dovecot import dovecot, imap_account  # noqa: E402,F401
from tests.servers.fake_llm import fake_llm  # noqa: E402,F401
from tests.servers.langfuse_receiver import langfuse_project, langfuse_server  # noqa: E402,F401
from tests.servers.mlflow_tracking import mlflow_experiment, mlflow_server  # noqa: E402,F401
from tests.servers.notifications import notification_server  # noqa: E402,F401
from tests.servers.postgres import postgres_server, postgres_url  # noqa: E402,F401
from tests.servers.smtp import smtp_server, smtp_server_session  # noqa: E402,F401
