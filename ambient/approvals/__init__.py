"""Approvals: nothing ambient drafts runs until a human decides; what runs is exactly what was
approved, exactly once.

- :mod:`~ambient.approvals.queue` — the queue and its decisions (one API for the TUI and CLI)
- :mod:`~ambient.approvals.kinds` — the action kinds, one module each, and their registry
- :mod:`~ambient.approvals.policy` — the deterministic policy gate
- :mod:`~ambient.approvals.outbox` and :mod:`~ambient.approvals.executors` — execution
- :mod:`~ambient.approvals.audit` — the hash-chained audit log
"""
