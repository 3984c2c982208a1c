from pathlib import Path

import pytest

from ambient.config import ImapSourceSettings, load_settings
from ambient.errors import ConfigError


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
