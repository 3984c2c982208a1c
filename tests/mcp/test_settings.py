"""`[[mcp]]` in ambient.toml: every mistake is a ConfigError that names the server, and the
secrets a server needs stay out of the file, the logs and the settings' repr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tomli_w

from ambient.core.config import configured_secret_names, load_settings
from ambient.core.errors import ConfigError


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
