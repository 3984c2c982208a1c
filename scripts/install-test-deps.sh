#!/bin/sh
# Debian packages the test suite needs (real servers on loopback). Installs only what is missing.
#   postgresql     the server tests/servers/postgres.py runs as its own cluster in a temp dir
#   dovecot-imapd  the IMAP server tests/servers/dovecot.py starts (binaries only: the fixture
#                  runs its own instance as an unprivileged user with a temp config)
set -eu

PACKAGES="postgresql dovecot-imapd"
# systemd: systemd-analyze, which tests/daemon/test_systemd_unit.py runs on the rendered unit
# (verify, security); the package is not started, PID 1 stays whatever the host runs.
PACKAGES="$PACKAGES systemd"
# openssl: makes the test Dovecot's self-signed certificate (TLS and certificate-error tests).
PACKAGES="$PACKAGES openssl"
# tmux: tests/tui/test_terminal.py runs `ambient tui` in a real 80x24 terminal and reads the pane.
PACKAGES="$PACKAGES tmux"

missing=""
for package in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done
# nodejs, npm: Debian's node runs the third-party MCP server of tests/mcp (installed from the npm
# registry by scripts/setup-mcp-servers). Checked by command: a node that came otherwise (with
# its own npm) is used as it is.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi
# dbus-daemon: the session bus tests/servers/dbus.py starts on a private socket for the desktop
# alert channel (the host's buses are not touched). Checked by command: the package is
# dbus-daemon since Debian 12 and part of dbus before; the name is settled below, once the
# package lists are fresh.
if ! command -v dbus-daemon >/dev/null 2>&1; then
    missing="$missing dbus-daemon"
fi

if [ -z "$missing" ]; then
    echo "install-test-deps: all present ($PACKAGES nodejs npm dbus-daemon)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "install-test-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
case " $missing " in
    *" dbus-daemon "*)
        if ! apt-cache show dbus-daemon >/dev/null 2>&1; then
            missing=$(echo "$missing" | sed 's/ dbus-daemon/ dbus/')
        fi
        ;;
esac
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO apt-get install -y -q --no-install-recommends $missing
# The package's own system service is not needed by the tests; leave it stopped if it started.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
    $SUDO systemctl stop dovecot || true
fi
