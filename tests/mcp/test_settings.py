"""`[[mcp]]` in ambient.toml: every mistake is a ConfigError that names the server, and the
secrets a server needs stay out of the file, the logs and the settings' repr; the ones written
in the file all the same (every literal header, secret-looking env values) never leave it."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from ambient.core.config import (
    Secrets,
    Settings,
    configured_secret_names,
    is_secret_name,
    literal_secret_values,
    load_settings,
)
from ambient.core.errors import ConfigError
from ambient.daemon.runner import LoggingOptions
from ambient.mcp.catalog import ToolCatalog, mcp_dir
from ambient.mcp.servers import McpServer
from ambient.tracing.redaction import Redactor
from tests.conftest import FrozenClock


@pytest.fixture
def mcp_tables() -> list[dict[str, Any]]:
    return []


def configured(home: Path, *servers: dict[str, Any]) -> str:
    """The ConfigError's message for these servers."""
    (home / "ambient.toml").write_text(tomli_w.dumps({"mcp": list(servers)}), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    return str(raised.value)


@pytest.mark.parametrize(
    ("server", "problem"),
    [
        ({"name": "crm"}, "give either `command` (a stdio server) or `url` (streamable HTTP)"),
        ({"name": "crm", "command": "x", "url": "http://h/mcp"}, "give either `command`"),
        ({"name": "crm", "url": "ftp://h/mcp"}, "url: expected an http:// or https:// URL"),
        ({"name": "crm", "url": "http://h/mcp", "args": ["-v"]}, "args, env, env_from and cwd"),
        ({"name": "crm", "command": "x", "headers": {"A": "b"}}, "headers and headers_from are"),
        (
            {"name": "crm", "command": "x", "read_only": ["get"], "drafts": ["get"]},
            "'get' is in both read_only and drafts",
        ),
        ({"name": "crm", "command": "x", "read_only": ["*"]}, 'read_only: name each tool; "*"'),
        (
            {"name": "crm", "command": "x", "drafts": ["put"], "idempotent": ["get"]},
            "idempotent: 'get' is not one of its drafts",
        ),
        (
            {"name": "crm", "command": "x", "drafts": ["put"], "autonomous": ["get"]},
            "autonomous: 'get' is not one of its drafts",
        ),
        (
            {"name": "crm", "command": "x", "drafts": ["*"], "autonomous": ["*"]},
            'autonomous: name each tool; "*"',
        ),
        ({"name": "crm", "command": "x", "timeout": 3}, "timeout: unknown setting"),
        ({"name": "crm", "command": "x", "call_timeout_seconds": 0}, "call_timeout_seconds:"),
    ],
)
def test_a_mistake_is_a_config_error_naming_the_server(
    ambient_home: Path, server: dict[str, Any], problem: str
) -> None:
    message = configured(ambient_home, {"name": "ok", "command": "x"}, server)

    assert message.startswith(f"{ambient_home / 'ambient.toml'}: mcp[1]: mcp server 'crm': ")
    assert problem in message


def test_a_name_is_one_word_for_the_tool_names_and_unique(ambient_home: Path) -> None:
    assert "mcp server 'my_crm': name: String should match pattern" in configured(
        ambient_home, {"name": "my_crm", "command": "x"}
    )
    duplicate = configured(
        ambient_home, {"name": "crm", "command": "x"}, {"name": "crm", "url": "http://h/"}
    )
    assert "mcp: mcp server 'crm': the name is taken by another [[mcp]] server" in duplicate


def test_a_wrong_env_value_is_named_but_never_echoed(ambient_home: Path) -> None:
    message = configured(ambient_home, {"name": "crm", "command": "x", "env": {"TOKEN": 12345678}})

    assert "mcp server 'crm': env.TOKEN: Input should be a valid string" in message
    assert "12345678" not in message


def test_secrets_are_named_variables_never_in_the_file_or_the_repr(
    ambient_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMBIENT_TEST_GH_TOKEN", "ghp_not_in_the_file")
    server = {
        "name": "github",
        "command": "npx",
        "env": {"LOG_LEVEL": "debug"},
        "env_from": {"GITHUB_TOKEN": "AMBIENT_TEST_GH_TOKEN"},
        "drafts": ["*"],
    }
    (ambient_home / "ambient.toml").write_text(tomli_w.dumps({"mcp": [server]}), encoding="utf-8")

    settings, secrets = load_settings()

    (github,) = settings.mcp
    assert github.drafts_tool("create_issue") and not github.is_read_only("create_issue")
    assert "AMBIENT_TEST_GH_TOKEN" in configured_secret_names(settings)  # logs redact its value
    assert secrets.get("AMBIENT_TEST_GH_TOKEN") == "ghp_not_in_the_file"
    assert "debug" not in repr(settings) and "ghp_not_in_the_file" not in repr(settings)


LITERAL_SERVERS = [
    {
        "name": "tickets",
        "url": "https://mcp.example.com/mcp",
        "headers": {"Authorization": "Bearer literal-auth-123", "X-Tenant": "acme-tenant-7"},
    },
    {
        "name": "files",
        "command": "files-server",
        "env": {"X-Api-Key": "literal-key-456", "LOG_LEVEL": "debug"},
    },
]
LITERALS = ["Bearer literal-auth-123", "acme-tenant-7", "literal-key-456"]


@pytest.fixture
def literal(ambient_home: Path) -> tuple[Settings, Secrets]:
    """Servers whose secrets are written in ambient.toml itself."""
    text = tomli_w.dumps({"mcp": LITERAL_SERVERS})
    (ambient_home / "ambient.toml").write_text(text, encoding="utf-8")
    return load_settings()


def test_a_header_or_env_name_with_dashes_is_read_like_one_with_underscores() -> None:
    assert is_secret_name("X-Api-Key") and is_secret_name("x-auth-token")
    assert not is_secret_name("X-Request-Id") and not is_secret_name("X-Api-Key-File")


def test_every_literal_header_and_secret_looking_env_value_is_a_secret(
    literal: tuple[Settings, Secrets],
) -> None:
    settings, secrets = literal

    assert sorted(literal_secret_values(settings)) == sorted(LITERALS)
    shown = repr(settings)
    assert not any(value in shown for value in LITERALS)
    redactor = Redactor.from_settings(settings, secrets)
    said = redactor.text(f"sent {LITERALS[0]} for {LITERALS[1]} with {LITERALS[2]} at debug")
    assert said == "sent [REDACTED] for [REDACTED] with [REDACTED] at debug"


def test_the_logs_redact_literal_secrets(
    literal: tuple[Settings, Secrets], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, secrets = literal
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    LoggingOptions(level=None, log_format=None, environ={}).apply(settings, secrets)

    logging.getLogger("ambient.test").warning("the server said: %s", " ".join(LITERALS))

    text = stream.getvalue()
    assert "the server said: [redacted] [redacted] [redacted]" in text
    assert not any(value in text for value in LITERALS)


def test_a_servers_errors_and_stderr_tail_hide_its_literal_secrets(
    literal: tuple[Settings, Secrets], clock: FrozenClock
) -> None:
    settings, secrets = literal
    folder = mcp_dir(settings)
    tickets, files = (
        McpServer(config, secrets, clock, folder, ToolCatalog(folder)) for config in settings.mcp
    )
    folder.mkdir(parents=True, exist_ok=True)
    files.stderr_path.write_text("starting with key literal-key-456\n", encoding="utf-8")

    assert files.stderr_tail() == "starting with key [redacted]"
    error = tickets.failed("did not start: 401 for Bearer literal-auth-123 (acme-tenant-7)")
    assert str(error) == (
        "mcp server 'tickets' is unavailable: did not start: 401 for [redacted] ([redacted])"
    )
