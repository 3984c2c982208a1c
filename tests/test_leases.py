"""Lease holders: only a process of this host that is surely gone counts as dead."""

from __future__ import annotations

import os
import socket

from ambient.core.leases import holder_is_dead, holder_name, parse_holder
from tests.daemon.process import dead_pid


def test_this_process_and_running_ones_are_alive() -> None:
    assert not holder_is_dead(holder_name())
    assert not holder_is_dead(holder_name("outbox"))
    assert not holder_is_dead(f"{socket.gethostname()}:{os.getppid()}:0123456789ab")
    assert not holder_is_dead(f"{socket.gethostname()}:{os.getpid()}")  # no token: maybe us


def test_a_gone_process_of_this_host_is_dead_and_of_another_host_is_not_judged() -> None:
    gone = dead_pid()
    assert holder_is_dead(f"{socket.gethostname()}:{gone}:0123456789ab:outbox")
    assert holder_is_dead(f"{socket.gethostname()}:{gone}")
    assert not holder_is_dead(f"elsewhere.example:{gone}:0123456789ab")
    assert not holder_is_dead(f"{socket.gethostname()}:{gone}:x", host="elsewhere.example")


def test_names_that_are_not_holders_are_never_dead() -> None:
    for name in ("", "w1", "crashed", "host:", "host:abc:token", ":12:token"):
        assert parse_holder(name) is None and not holder_is_dead(name)
