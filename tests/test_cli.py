import json
import os
from pathlib import Path

import pytest

from ambient.cli import main
from tests.daemon.mail import email_bytes


def run_json(capsys, *args: str):
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_init_creates_everything_then_changes_nothing(ambient_home: Path, capsys) -> None:
    assert main(["init"]) == 0
    first = capsys.readouterr().out
    assert "created" in first and "sample emails" in first
    for name in (
        "ambient.toml",
        ".env.example",
        "ambient.db",
        "Maildir/new",
        "memory",
        "notes",
    ):
        assert (ambient_home / name).exists(), name
    samples = os.listdir(ambient_home / "Maildir" / "new")
    assert len(samples) >= 3
    config_text = (ambient_home / "ambient.toml").read_text()
    assert main(["init"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert (ambient_home / "ambient.toml").read_text() == config_text
    assert os.listdir(ambient_home / "Maildir" / "new") == samples


def test_init_never_overwrites_a_users_config(ambient_home: Path, capsys) -> None:
    (ambient_home / "ambient.toml").write_text("[worker]\nconcurrency = 9\n")
    assert main(["init", "--no-samples"]) == 0
    assert (ambient_home / "ambient.toml").read_text() == "[worker]\nconcurrency = 9\n"


def test_status_json_has_count_per_state(ambient_home: Path, capsys) -> None:
    main(["init", "--no-samples"])
    capsys.readouterr()
    status = run_json(capsys, "status")
    assert status["states"] == {
        "new": 0,
        "processing": 0,
        "awaiting_approval": 0,
        "done": 0,
        "failed": 0,
        "quarantined": 0,
    }
    assert status["daemon"]["alive"] is False


def test_ingest_file_and_stdin_put_messages_in_the_inbox(
    ambient_home: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    main(["init", "--no-samples"])
    capsys.readouterr()
    path = tmp_path / "m.eml"
    path.write_bytes(email_bytes("From a file"))
    delivered = run_json(capsys, "ingest", str(path))
    assert delivered[0]["subject"] == "From a file"

    class FakeStdin:
        buffer = __import__("io").BytesIO(email_bytes("From stdin", message_id="<s@x>"))

    monkeypatch.setattr("sys.stdin", FakeStdin)
    assert run_json(capsys, "ingest", "-")[0]["subject"] == "From stdin"
    assert len(os.listdir(ambient_home / "Maildir" / "new")) == 2


def test_bad_config_is_one_red_line_and_exit_code_2(ambient_home: Path, capsys) -> None:
    (ambient_home / "ambient.toml").write_text("[worker]\nconcurrency = 'lots'\n")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "worker.concurrency" in err


def test_items_list_show_and_retry(ambient_home: Path, capsys) -> None:
    main(["init", "--no-samples"])
    from ambient.core.clock import SystemClock
    from ambient.core.config import load_settings
    from ambient.core.db import open_database
    from ambient.core.items import InboundItem
    from ambient.core.ledger import Ledger

    settings, _ = load_settings()
    ledger = Ledger(open_database(settings.resolved_database_url), SystemClock(), settings.worker)
    item_id = ledger.ingest(InboundItem("inbox", "junk", b"\x00junk")).item_id
    capsys.readouterr()
    (row,) = run_json(capsys, "items", "list", "--state", "quarantined")
    assert row["id"] == item_id and "unparseable" in row["last_error"]
    assert main(["items", "retry", str(item_id)]) == 0
    assert "queued again" in capsys.readouterr().out
    assert run_json(capsys, "items", "show", str(item_id))["state"] == "new"
    assert main(["items", "show", "999"]) == 3


@pytest.mark.parametrize("command", [["--version"]])
def test_version(command, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(command)
    assert exited.value.code == 0 and "ambient" in capsys.readouterr().out


def test_ingest_of_a_missing_file_is_one_clear_error(ambient_home: Path, capsys) -> None:
    main(["init", "--no-samples"])
    capsys.readouterr()
    assert main(["ingest", str(ambient_home / "nope.eml")]) == 2
    err = capsys.readouterr().err
    assert "nope.eml: cannot be read" in err and "Traceback" not in err


def test_commands_on_a_home_never_set_up_say_to_run_init(ambient_home: Path, capsys) -> None:
    assert main(["status"]) == 2
    assert "run `ambient init` first" in capsys.readouterr().err
    assert not (ambient_home / "ambient.db").exists()  # nothing created behind the user's back


def test_empty_standard_input_is_refused(ambient_home: Path, capsys, monkeypatch) -> None:
    main(["init", "--no-samples"])
    capsys.readouterr()

    class EmptyStdin:
        buffer = __import__("io").BytesIO(b"")

    monkeypatch.setattr("sys.stdin", EmptyStdin)
    assert main(["ingest", "-"]) == 2
    assert "standard input: is empty" in capsys.readouterr().err
    assert os.listdir(ambient_home / "Maildir" / "new") == []
