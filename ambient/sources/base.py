"""The protocol every source (Maildir, spool folder, IMAP account) implements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Protocol, runtime_checkable

from ambient.core.items import InboundItem

KnownKeys = Callable[[str, Collection[str]], set[str]]
"""Ask the ledger which of these keys of a source it already holds (to skip re-reading bytes)."""


@runtime_checkable
class Source(Protocol):
    """A place items come from.

    ``poll`` returns candidates (a source never decides what is new: the ledger does, and
    ``known`` is how a source avoids re-reading what the ledger already has). After the ledger
    has recorded them, the daemon calls ``acknowledge`` with their keys so the source can mark
    them handled in its own way (move to cur/, add a keyword, move to done/) — never before.
    """

    name: str

    async def poll(self, known: KnownKeys) -> list[InboundItem]: ...

    async def acknowledge(self, keys: list[str]) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class PushSource(Source, Protocol):
    """A source that can also wake the daemon when something arrives (IMAP IDLE)."""

    async def watch(self, wake: Callable[[], Awaitable[None]]) -> None:
        """Run until cancelled, calling ``wake`` when new items may be waiting."""
        ...
