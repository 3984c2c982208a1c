"""Lease holders: who holds a lease (``machine:pid:token``) and whether that holder is surely dead.

A daemon names itself ``machine:pid:token``. The machine is ``host#identity``: the host name and
a short hash of this machine's ``/etc/machine-id`` and of the PID namespace the process runs in,
because a host name is not a machine (two machines named alike may share one PostgreSQL, and
containers with the host's network but their own PID namespaces all have its name). The token is
new in every process, so a PID reused by a later process, as happens in containers, is not
mistaken for the one that held the lease.

A holder of this machine (the same host *and* identity) whose PID no longer exists, or whose PID
is now this process under another token, is dead: its leases can be taken back at once (a name
without a token, like a heartbeat's ``machine:pid``, is judged by its PID alone). Any other
holder is never judged from here, its leases run out as they always did: another machine's,
and a name from before identities existed (``host:pid:token``), which might be anyone's. Where
no identity can be read (no machine-id, no /proc) the machine is the host name alone.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

PROCESS_TOKEN = uuid.uuid4().hex[:12]
"""This process's token; fixed for its whole life."""

LEASE_ENDED = timedelta(microseconds=1)
"""How far before "now" a reclaimed lease is set to end: a claim at that same instant takes it."""


MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
PID_NAMESPACE = "/proc/self/ns/pid"
IDENTITY_SEPARATOR = "#"  # between the host name and the identity; never in a host name


@dataclass(frozen=True)
class Holder:
    machine: str  # "host#identity", or a bare host name (older names, or no identity)
    pid: int
    token: str  # "" for a holder named without a token (machine:pid)


def machine_identity(machine_id: str | None, pid_namespace: int | None) -> str:
    """A short hash of the machine's id and the PID namespace; "" when neither is known."""
    if not machine_id and pid_namespace is None:
        return ""
    seed = f"{machine_id or ''}:{pid_namespace if pid_namespace is not None else ''}"
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


def read_machine_id(paths: Sequence[str] = MACHINE_ID_FILES) -> str | None:
    for path in paths:
        try:
            with open(path, encoding="ascii", errors="replace") as handle:
                value = handle.read().strip()
        except OSError:
            continue
        if value:
            return value
    return None


def read_pid_namespace(path: str = PID_NAMESPACE) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


@cache
def this_machine() -> str:
    """This process's machine as holder names spell it: ``host#identity`` (the host alone where
    no identity can be read)."""
    identity = machine_identity(read_machine_id(), read_pid_namespace())
    host = socket.gethostname()
    return f"{host}{IDENTITY_SEPARATOR}{identity}" if identity else host


def holder_name(role: str | None = None) -> str:
    """This process as a lease holder: ``machine:pid:token``, then ``:role`` if given."""
    name = f"{this_machine()}:{os.getpid()}:{PROCESS_TOKEN}"
    return f"{name}:{role}" if role else name


def process_name() -> str:
    """This process without its token (``machine:pid``), as a heartbeat names it."""
    return f"{this_machine()}:{os.getpid()}"


def parse_holder(name: str) -> Holder | None:
    """``machine:pid[:token[:role]]``; None for a name that is not one (a test's "w1")."""
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


def holder_is_dead(name: str | None, machine: str | None = None) -> bool:
    """True only when the holder is certainly gone: of this machine (host and identity), and
    its process is not there.

    ``machine`` is this machine as holder names spell it (the default: :func:`this_machine`).
    """
    holder = parse_holder(name or "")
    if holder is None or holder.machine != (machine or this_machine()):
        return False
    if holder.pid == os.getpid():  # us, or an earlier process that had our PID
        return bool(holder.token) and holder.token != PROCESS_TOKEN
    return not pid_exists(holder.pid)
