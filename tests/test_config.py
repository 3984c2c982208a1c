from pathlib import Path

import pytest

from ambient.core.config import ImapSourceSettings, is_secret_name, load_settings, secret_names
from ambient.core.errors import ConfigError
from tests.conftest import CommandLine


def write_config(home: Path, text: str) -> None:
    (home / "ambient.toml").write_text(text, encoding="utf-8")


def test_defaults_use_ambient_home_for_config_and_data(ambient_home: Path) -> None:
    settings, _ = load_settings()
    assert settings.config_dir == ambient_home.resolve()
    assert settings.database_path == ambient_home.resolve() / "ambient.db"
    assert [source.name for source in settings.sources] == ["inbox"]


def test_xdg_locations_without_ambient_home(tmp_path: Path) -> None:
    settings, _ = load_settings({"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert settings.config_dir == (tmp_path / "cfg" / "ambient").resolve()
    assert settings.data_dir == (tmp_path / ".local" / "share" / "ambient").resolve()


def test_bad_value_names_file_key_and_expectation(ambient_home: Path) -> None:
    write_config(
        ambient_home,
        '[[sources]]\ntype = "maildir"\nname = "a"\n\n'
        '[[sources]]\ntype = "imap"\nname = "w"\nhost = "h"\nusername = "u"\n'
        'password_env = "P"\nport = "993a"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "ambient.toml: sources[1].port:" in message
    assert "integer" in message and "'993a'" in message


def test_unknown_key_is_an_error(ambient_home: Path) -> None:
    write_config(ambient_home, "[worker]\nconcurency = 3\n")
    with pytest.raises(ConfigError, match=r"worker\.concurency: unknown setting"):
        load_settings()


def test_broken_toml_is_a_clear_error(ambient_home: Path) -> None:
    write_config(ambient_home, "[worker\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_environment_overrides_file_and_dotenv(ambient_home: Path, monkeypatch) -> None:
    write_config(ambient_home, "[worker]\nconcurrency = 2\n")
    (ambient_home / ".env").write_text("AMBIENT_WORKER__CONCURRENCY=3\nSECRET_PW=hunter2\n")
    settings, secrets = load_settings()
    assert settings.worker.concurrency == 3
    monkeypatch.setenv("AMBIENT_WORKER__CONCURRENCY", "7")
    settings, secrets = load_settings()
    assert settings.worker.concurrency == 7
    assert secrets.get("SECRET_PW") == "hunter2"
    assert "hunter2" not in repr(secrets) and "hunter2" not in repr(settings)


def test_imap_source_parses_with_password_by_name(ambient_home: Path) -> None:
    write_config(
        ambient_home,
        '[[sources]]\ntype = "imap"\nname = "work"\nhost = "imap.example"\n'
        'username = "me"\npassword_env = "WORK_PW"\n',
    )
    settings, _ = load_settings()
    (source,) = settings.sources
    assert isinstance(source, ImapSourceSettings)
    assert source.port == 993 and source.mailboxes == ["INBOX"]


def test_duplicate_source_names_are_refused(ambient_home: Path) -> None:
    write_config(
        ambient_home,
        '[[sources]]\ntype = "maildir"\nname = "x"\n[[sources]]\ntype = "spool"\nname = "x"\n',
    )
    with pytest.raises(ConfigError, match="duplicate name 'x'"):
        load_settings()


def test_lists_and_tables_come_from_the_environment_as_json(
    ambient_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(ambient_home, '[policy]\ndenied_domains = ["spam.example"]\n')
    monkeypatch.setenv("AMBIENT_POLICY__DENIED_DOMAINS", '["evil.example"]')
    monkeypatch.setenv("AMBIENT_POLICY__RULES", '{"note_exists": "block"}')
    monkeypatch.setenv("AMBIENT_SMTP", '{"host": "mail.example"}')
    monkeypatch.setenv("AMBIENT_SMTP__PORT", "25")  # a key on top of the table
    settings, _ = load_settings()
    assert settings.policy.denied_domains == ["evil.example"]
    assert settings.policy.rules == {"note_exists": "block"}
    assert settings.smtp is not None
    assert (settings.smtp.host, settings.smtp.port) == ("mail.example", 25)


def test_a_list_setting_that_is_not_json_names_the_variable(
    ambient_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMBIENT_POLICY__DENIED_DOMAINS", "evil.example")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("environment: AMBIENT_POLICY__DENIED_DOMAINS: expected JSON")
    assert "line 1 column 1" in message and "\n" not in message


def test_a_structured_variable_that_is_not_json_is_never_echoed(
    ambient_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = '{"host": "mail.example", "password": "hunter2-not-for-logs"'  # the brace is missing
    monkeypatch.setenv("AMBIENT_SMTP", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("environment: AMBIENT_SMTP: expected JSON")
    assert "hunter2" not in message and "mail.example" not in message
    assert "line 1 column" in message


@pytest.mark.parametrize(
    "name",
    [
        "LANGFUSE_SECRET_KEY",
        "OPENAI_API_KEY",
        "GITHUB_TOKEN",
        "SMTP_PASSWORD",
        "PGPASSWORD",
        "WORK_IMAP_PW",
        "CLIENT_SECRET",
        "AWS_SECRET_ACCESS_KEY",
        "SMTP_PASSWORD_WORK",
        "GITHUB_TOKEN_RO",
        "OPENAI_API_KEY_2",
        "SMTP_AUTH",
        "AZURE_CREDENTIALS",
        "AZURE_CLIENT_CREDENTIAL",
        "IMAP_PASS",
        "WORK_SMTP_PASSWD",
        "DEPLOY_PRIVATE_KEY",
        "GITHUB_PRIVATE_KEY_PEM",
        "SITE_COOKIE",
        "AWS_SESSION_TOKEN",
        "MYAPP_SESSION",
        "MYSQL_PWD",
        "GPG_PASSPHRASE",
        "ANTHROPIC_APIKEY",
        "SMTP_PASS_WORK",
        "BACKUP_PASSWD_2",
        "SITE_COOKIE_SIGNED",
    ],
)
def test_secret_looking_names_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "PWD",
        "OLDPWD",
        "HOME",
        "PATH",
        "SSH_AUTH_SOCK",
        "GITHUB_TOKEN_FILE",
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_BASE_URL",
        "KEYTIMEOUT",
        "EDITOR",
        "XDG_CONFIG_HOME",
        "SSH_PUBLIC_KEY",
        "GITHUB_TOKEN_PATH",
        "VAULT_TOKEN_DIR",
        "GNUPG_PRIVATE_HOME",
        "SMTP_AUTH_HOST",
        "AUTH_SERVICE_URL",
        "KEYBOARD_LAYOUT",
        "XKB_DEFAULT_KEYMAP",
        "XAUTHORITY",
        "GIT_ASKPASS",
        "PASSENGER_APP_ENV",
        "TOKENIZERS_PARALLELISM",
        "DESKTOP_SESSION",
        "SESSION_MANAGER",
        "DBUS_SESSION_BUS_ADDRESS",
        "XDG_SESSION_TYPE",
        "XDG_SESSION_DESKTOP",
        "XDG_SESSION_CLASS",
    ],
)
def test_paths_and_ordinary_variables_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_the_configured_password_variables_are_secret_whatever_their_names(
    ambient_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        ambient_home,
        '[smtp]\nhost = "mail.example"\npassword_env = "MAIL_LOGIN"\n\n'
        '[[sources]]\ntype = "imap"\nname = "work"\nhost = "imap.example"\n'
        'username = "me"\npassword_env = "WORK_IMAP"\n',
    )
    monkeypatch.setenv("MAIL_LOGIN", "smtp-pass-123")
    monkeypatch.setenv("WORK_IMAP", "imap-pass-456")
    monkeypatch.setenv("OLDPWD", str(ambient_home))
    settings, secrets = load_settings()
    names = secret_names(settings, secrets)
    assert {"MAIL_LOGIN", "WORK_IMAP"} <= names
    assert "PWD" not in names and "OLDPWD" not in names


def test_a_typo_in_policy_rules_stops_every_command_naming_the_file(
    cli: CommandLine, ambient_home: Path
) -> None:
    assert cli.run("init", "--no-samples")[0] == 0
    (ambient_home / "ambient.toml").write_text(
        '[policy]\nrules = { reply_outsde_thread = "warn" }\n'
    )
    code, out = cli.run("status")
    assert code == 2
    assert "ambient.toml: policy.rules: unknown rule 'reply_outsde_thread'" in " ".join(out.split())
