"""Real servers on loopback, each started once per test session (Dovecot, SMTP, Langfuse, PG).

Each server module lives beside this one; this file only collects their fixtures.
"""

from __future__ import annotations
