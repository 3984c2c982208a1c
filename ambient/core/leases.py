"""Lease holders: who holds a lease (``host:pid:token``) and whether that holder is surely dead.

A daemon names itself ``host:pid:token`` (the token is new in every process, so a PID reused by
a later process, as happens in containers, is not mistaken for the one that held the lease).
A holder on this host whose PID no longer exists, or whose PID is now this process under another
token, is dead: its leases can be taken back at once (a name without a token, like a heartbeat's
``host:pid``, is judged by its PID alone). A holder on another host is never judged from here:
its leases run out as they always did.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

PROCESS_TOKEN = uuid.uuid4().hex[:12]
"""This process's token; fixed for its whole life."""

LEASE_ENDED = timedelta(microseconds=1)
"""How far before "now" a reclaimed lease is set to end: a claim at that same instant takes it."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    token: str  # "" for a holder named before tokens existed (host:pid)


def this_host() -> str:
    return socket.gethostname()


def holder_name(role: str | None = None) -> str:
    """This process as a lease holder: ``host:pid:token``, then ``:role`` if given."""
    name = f"{this_host()}:{os.getpid()}:{PROCESS_TOKEN}"
    return f"{name}:{role}" if role else name


def parse_holder(name: str) -> Holder | None:
    """``host:pid[:token[:role]]``; None for a name that is not one (a test's "w1")."""
    parts = name.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1].isdigit():
        return None
    return Holder(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "")


def pid_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def holder_is_dead(name: str | None, host: str | None = None) -> bool:
    """True only when the holder is certainly gone: on this host, and its process is not there.

    ``host`` is this machine's name (the default: ``socket.gethostname()``).
    """
    holder = parse_holder(name or "")
    if holder is None or holder.host != (host or this_host()):
        return False
    if holder.pid == os.getpid():  # us, or an earlier process that had our PID
        return bool(holder.token) and holder.token != PROCESS_TOKEN
    return not pid_exists(holder.pid)
