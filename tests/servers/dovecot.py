"""A real Dovecot IMAP server on loopback, started once per test session.

It runs as an unprivileged user (the current one; ``nobody`` when the suite runs as root) on two
free high ports (plain with STARTTLS, and implicit TLS with a self-signed certificate), with its
own base_dir/state_dir/log in a temp dir, a passwd-file passdb and a static userdb with
Maildirs. Each test gets a fresh user (and so an empty mailbox) from :func:`imap_account`.

When Dovecot is missing, the fixture runs ``scripts/install-test-deps.sh`` once; only if that
fails are the IMAP tests skipped, with the reason shown.
"""

from __future__ import annotations

import contextlib
import grp
import itertools
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from ambient.core.config import ImapSourceSettings
from tests.servers.ports import free_port
from tests.servers.processes import stop_process

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "install-test-deps.sh"
DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
START_DEADLINE_SECONDS = 15.0


def _find(name: str, candidates: tuple[str, ...]) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return next((path for path in candidates if os.access(path, os.X_OK)), None)


def _ensure_installed() -> tuple[str, str]:
    dovecot = _find("dovecot", DOVECOT_CANDIDATES)
    if dovecot is None or shutil.which("openssl") is None:
        result = subprocess.run(
            ["sh", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=600, check=False
        )
        dovecot = _find("dovecot", DOVECOT_CANDIDATES)
        if dovecot is None or shutil.which("openssl") is None:
            reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.skip(
                f"dovecot-imapd/openssl not installed and could not be installed: {reason[0]}"
            )
    doveadm = _find("doveadm", ("/usr/bin/doveadm", "/usr/local/bin/doveadm"))
    if doveadm is None:
        pytest.skip("dovecot is installed but doveadm is missing (dovecot-core broken?)")
    return dovecot, doveadm


@dataclass(frozen=True)
class RunAs:
    user: str
    group: str
    uid: int
    gid: int

    @classmethod
    def choose(cls) -> RunAs:
        """The current user, or ``nobody`` when running as root (Dovecot refuses uid 0 mail)."""
        entry = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        return cls(entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name, entry.pw_uid, entry.pw_gid)

    def popen_arguments(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "7",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = ambient-test-{port}
listen = 127.0.0.1
protocols = imap
log_path = {root}/dovecot.log
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = 50
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
  # no growing delay after the login-failure tests (every test logs in from 127.0.0.1)
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  chroot =
}}
"""


@dataclass
class DovecotServer:
    host: str
    port: int
    tls_port: int
    root: Path
    config: Path
    ca_file: Path
    doveadm_path: str
    run_as: RunAs
    process: subprocess.Popen[bytes]
    startup_seconds: float

    def add_user(self, name: str, password: str) -> None:
        # One passwd-file per user (the passdb path has %u): Dovecot re-checks a changed file at
        # most once a second, a new file is read at the user's first login.
        passwd = self.root / "users" / name
        passwd.write_text(f"{name}:{{PLAIN}}{password}::::::\n")
        if os.geteuid() == 0:
            os.chown(passwd, self.run_as.uid, self.run_as.gid)

    def doveadm(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.doveadm_path, "-c", str(self.config), *arguments],
            capture_output=True, text=True, timeout=30, check=False,
            **self.run_as.popen_arguments(),
        )  # fmt: skip

    def kick(self, user: str) -> None:
        """Drop every connection of a user (as a server restart or a network drop would)."""
        result = self.doveadm("kick", user)
        assert result.returncode == 0, result.stderr

    def session_pids(self, user: str) -> list[int]:
        """The imap processes (one per connection) serving a user, from ``doveadm who -1``."""
        result = self.doveadm("who", "-1", user)
        assert result.returncode == 0, result.stderr
        rows = [line.split() for line in result.stdout.splitlines()[1:]]
        return [int(row[2]) for row in rows if len(row) >= 3 and row[0] == user]

    def log_text(self) -> str:
        return (self.root / "dovecot.log").read_text(errors="replace")


def _wait_until_listening(server: DovecotServer) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"dovecot exited at start:\n{server.log_text()[-2000:]}")
        try:
            with socket.create_connection((server.host, server.port), timeout=1) as probe:
                if probe.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"dovecot did not answer within {START_DEADLINE_SECONDS} s")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    started = time.monotonic()
    dovecot_path, doveadm_path = _ensure_installed()
    run_as = RunAs.choose()
    root = Path(tempfile.mkdtemp(prefix="ambient-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail", "users"):
        (root / sub).mkdir()
    cert, key = _make_certificate(root)
    port, tls_port = free_port(), free_port()
    while tls_port == port:
        tls_port = free_port()
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            root=root,
            port=port,
            tls_port=tls_port,
            cert=cert,
            key=key,
            user=run_as.user,
            group=run_as.group,
            uid=run_as.uid,
            gid=run_as.gid,
        )
    )
    if os.geteuid() == 0:
        for path in [root, *root.rglob("*")]:
            os.chown(path, run_as.uid, run_as.gid)
    with (root / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            [dovecot_path, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL, stderr=stderr,
            process_group=0, **run_as.popen_arguments(),
        )  # fmt: skip
    server = DovecotServer(
        host="127.0.0.1", port=port, tls_port=tls_port, root=root, config=config,
        ca_file=cert, doveadm_path=doveadm_path, run_as=run_as, process=process,
        startup_seconds=0.0,
    )  # fmt: skip
    try:
        _wait_until_listening(server)
        server.startup_seconds = time.monotonic() - started
        log.info("dovecot ready on 127.0.0.1:%d in %.2f s", port, server.startup_seconds)
        yield server
    finally:
        stop_process(process)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class ImapAccount:
    """One user on the test Dovecot, with an empty mailbox."""

    server: DovecotServer
    username: str
    password: str

    def client(self) -> IMAPClient:
        """A second IMAP connection, standing in for the sender / another mail client."""
        client = IMAPClient(self.server.host, port=self.server.port, ssl=False, timeout=10)
        client.login(self.username, self.password)
        return client

    def append(self, raw: bytes, mailbox: str = "INBOX", flags: tuple[bytes, ...] = ()) -> None:
        with contextlib.closing(_Session(self)) as session:
            session.client.append(mailbox, raw, flags=flags)

    def settings(self, **overrides: Any) -> ImapSourceSettings:
        values: dict[str, Any] = {
            "name": "work",
            "host": self.server.host,
            "port": self.server.port,
            "security": "none",
            "username": self.username,
            "password_env": "TEST_IMAP_PASSWORD",
            "timeout_seconds": 10.0,
        }
        values.update(overrides)
        return ImapSourceSettings(**values)


class _Session:
    def __init__(self, account: ImapAccount) -> None:
        self.client = account.client()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.logout()


_user_numbers = itertools.count(1)


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> ImapAccount:
    number = next(_user_numbers)
    username, password = f"user{number}", f"pw-{number}-Zq8"
    dovecot.add_user(username, password)
    return ImapAccount(server=dovecot, username=username, password=password)
