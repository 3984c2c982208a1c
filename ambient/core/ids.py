"""Trace ids any process can derive from an item, without asking anyone."""

from __future__ import annotations

import hashlib


def trace_id_for_item(source: str, key: str) -> str:
    """The W3C/Langfuse trace id (32 hex chars) of the item with this source and key.

    Same derivation as ``Langfuse.create_trace_id(seed=...)``: the first 16 bytes of SHA-256.
    """
    seed = f"ambient-item:{source}/{key}"
    return hashlib.sha256(seed.encode("utf-8")).digest()[:16].hex()
