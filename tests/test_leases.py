"""Lease holders: only a process of this machine that is surely gone counts as dead."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from ambient.core.leases import (
    holder_is_dead,
    holder_name,
    machine_identity,
    parse_holder,
    process_name,
    read_machine_id,
    read_pid_namespace,
    this_machine,
)
from tests.daemon.process import dead_pid


def test_this_process_and_running_ones_are_alive() -> None:
    assert not holder_is_dead(holder_name())
    assert not holder_is_dead(holder_name("outbox"))
    assert not holder_is_dead(f"{this_machine()}:{os.getppid()}:0123456789ab")
    assert not holder_is_dead(process_name())  # no token: maybe us


def test_a_gone_process_of_this_machine_is_dead_and_of_another_machine_is_not_judged() -> None:
    gone = dead_pid()
    assert holder_is_dead(f"{this_machine()}:{gone}:0123456789ab:outbox")
    assert holder_is_dead(f"{this_machine()}:{gone}")
    assert not holder_is_dead(f"elsewhere.example:{gone}:0123456789ab")
    assert not holder_is_dead(f"{this_machine()}:{gone}:x", machine="elsewhere.example")


def test_names_that_are_not_holders_are_never_dead() -> None:
    for name in ("", "w1", "crashed", "host:", "host:abc:token", ":12:token"):
        assert parse_holder(name) is None and not holder_is_dead(name)


needs_identity = pytest.mark.skipif(
    read_machine_id() is None and read_pid_namespace() is None,
    reason="this system has neither a machine-id nor /proc: the host name is the machine",
)


@needs_identity
def test_a_holder_names_its_machine_by_more_than_the_host_name() -> None:
    host, _, identity = this_machine().partition("#")
    assert host == socket.gethostname() and len(identity) == 12
    assert holder_name("outbox").startswith(f"{this_machine()}:{os.getpid()}:")


@needs_identity
def test_a_dead_pid_under_our_host_name_on_another_machine_or_namespace_is_not_judged() -> None:
    gone, host = dead_pid(), socket.gethostname()
    other = machine_identity("another-machine-id", read_pid_namespace())
    assert not holder_is_dead(f"{host}#{other}:{gone}:0123456789ab")  # same name, other machine
    assert not holder_is_dead(f"{host}#{other}:{gone}")  # its heartbeat


@needs_identity
def test_a_holder_named_before_machine_identities_is_never_reclaimed_early() -> None:
    gone, host = dead_pid(), socket.gethostname()
    assert not holder_is_dead(f"{host}:{gone}:0123456789ab:outbox")
    assert not holder_is_dead(f"{host}:{gone}")


def test_the_identity_tells_apart_machines_and_pid_namespaces() -> None:
    mine = machine_identity("0123abcd", 4026531836)
    assert mine == machine_identity("0123abcd", 4026531836)  # the same every time
    assert mine != machine_identity("4567ef01", 4026531836)  # another machine, same namespace
    assert mine != machine_identity("0123abcd", 4026532301)  # a container on this machine
    assert machine_identity(None, None) == ""  # nothing known: the host name alone


def test_the_machine_id_is_read_from_the_first_file_that_has_one(tmp_path: Path) -> None:
    empty, kept = tmp_path / "machine-id", tmp_path / "dbus-machine-id"
    empty.write_text("\n")
    kept.write_text("5d1f0c4e8a9b4c0d9e7f6a5b4c3d2e1f\n")
    missing = str(tmp_path / "nowhere")
    assert read_machine_id([missing, str(empty), str(kept)]) == "5d1f0c4e8a9b4c0d9e7f6a5b4c3d2e1f"
    assert read_machine_id([missing]) is None
    assert read_pid_namespace(missing) is None
