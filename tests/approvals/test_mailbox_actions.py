"""Acting on the mailbox: archive, move, flag, keyword and read state, approved by the human and
run by the outbox exactly once, on a real Dovecot account and on a Maildir ambient owns.

Each action looks first (a message in the target folder already, a flag set already: nothing is
done), finds its message by Message-ID when the UIDs changed, moves with MOVE or (without it)
COPY and the expunge of that one UID, and never deletes anything else.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from ambient.approvals.drafts import DraftedAction
from ambient.approvals.executors.mailbox import MOVING, MailboxExecutor
from ambient.approvals.journal import DeliveryJournal
from ambient.approvals.kinds import KINDS, DraftToFix
from ambient.approvals.kinds.mailbox import MailboxKind
from ambient.approvals.outbox import Outbox
from ambient.approvals.policy import PolicyGate
from ambient.approvals.queue import ApprovalQueue
from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import (
    ImapSourceSettings,
    MaildirSourceSettings,
    Secrets,
    Settings,
    SpoolSourceSettings,
)
from ambient.core.errors import DecisionError
from ambient.core.items import ItemState
from ambient.core.ledger import Ledger
from ambient.mail.imap_mailbox import message_id_of
from ambient.sources.imap import ImapSource
from ambient.sources.maildir import MaildirSource, deliver
from ambient.sources.state import SourceStateStore
from tests.approvals.conftest import Queue, context_for
from tests.conftest import CommandLine, FrozenClock
from tests.servers.dovecot import ImapAccount


def email(message_id: str, subject: str = "Your receipt") -> bytes:
    return (
        f"From: Shop <orders@shop.example>\r\nTo: me@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
        "Thank you for your order.\r\n"
    ).encode()


def action(kind: str, **args: Any) -> DraftedAction:
    return DraftedAction(kind, f"call-{kind}-{len(args)}", args, "The user files receipts.")


# ---- what a human and the agent see, without a server -----------------------------------
def test_each_kind_says_what_it_does_to_the_message() -> None:
    shown = {
        ("move_message", "{}"): "archive the message",
        ("move_message", '{"folder": "Receipts"}'): "move the message to Receipts",
        ("flag_message", "{}"): "flag the message",
        ("flag_message", '{"flagged": false}'): "unflag the message",
        ("tag_message", '{"keyword": "$Receipt"}'): "tag the message $Receipt",
        ("mark_read", "{}"): "mark the message read",
        ("mark_read", '{"read": false}'): "mark the message unread",
    }
    for (kind, args), headline in shown.items():
        assert KINDS.of(kind).headline(KINDS.validate(kind, json.loads(args))) == headline
    # the TUI lists what is done beside the item's subject
    move = KINDS.of("move_message")
    assert (move.label, move.concerns({"folder": ""}), move.summary({}, "Receipt")) == (
        "move",
        "archive",
        "Receipt",
    )


def test_the_arguments_validate_on_their_own_as_a_pre_rule_gives_them() -> None:
    assert KINDS.validate("move_message", {}) == {"folder": ""}
    assert KINDS.validate("flag_message", {}) == {"flagged": True}
    assert KINDS.validate("mark_read", {"read": False}) == {"read": False}
    with pytest.raises(DecisionError, match="tag_message: keyword: a keyword is one word"):
        KINDS.validate("tag_message", {"keyword": "\\Deleted"})
    with pytest.raises(DecisionError, match="move_message: folder: a folder name has no"):
        KINDS.validate("move_message", {"folder": "*"})
    with pytest.raises(DecisionError, match="flag_message: uid: unknown field"):
        KINDS.validate("flag_message", {"uid": 7})  # the message is the item's, never an argument


def test_an_edited_folder_reads_back_from_the_text_form() -> None:
    move = KINDS.of("move_message")
    text = move.to_text({"folder": ""})
    assert text.startswith("Folder: \n")
    assert move.from_text(text.replace("Folder: ", "Folder: Receipts")) == {"folder": "Receipts"}


def test_the_agent_is_told_which_folders_it_may_move_to(settings: Settings) -> None:
    settings.policy.move_folders = ["Receipts"]
    move = KINDS.of("move_message")
    draft = move.draft.model_validate({"folder": "Spam", "rationale": "junk"})  # type: ignore[union-attr]
    with pytest.raises(
        DraftToFix, match=r"'Spam' is not a folder .* \(allowed: Receipts, Archive\)"
    ):
        move.check_draft(draft, None, settings)  # type: ignore[arg-type]
    archive = move.draft.model_validate({"rationale": "done"})  # type: ignore[union-attr]
    move.check_draft(archive, None, settings)  # type: ignore[arg-type]


def test_the_gate_blocks_a_folder_outside_the_policy(settings: Settings) -> None:
    settings.policy.move_folders = ["Receipts"]
    gate = PolicyGate.from_settings(settings)
    checked = {
        folder: gate.check("move_message", {"folder": folder}, thread_addresses=frozenset())
        for folder in ("", "Archive", "Receipts", "Trash")
    }
    assert [folder for folder, report in checked.items() if report.blocked] == ["Trash"]
    assert "folder_not_allowed: 'Trash' is not a folder" in (checked["Trash"].block_reason or "")


def test_the_cli_shows_what_a_mailbox_action_does_and_edits_its_folder(
    cli: CommandLine, queue_for: Queue, ambient_home: Path
) -> None:
    (ambient_home / "ambient.toml").write_text('[policy]\nmove_folders = ["Receipts"]\n')
    first, second = queue_for(action("move_message"), action("mark_read"))
    code, out = cli.run("approvals", "list")
    assert code == 0 and "archive the message" in out and "mark the message read" in out
    code, out = cli.run("approvals", "edit", str(first.id), "--set", "folder=Trash")
    assert code == 4 and "blocked: folder_not_allowed: 'Trash'" in out
    code, outcome = cli.json("approvals", "edit", str(first.id), "--set", "folder=Receipts")
    assert code == 0 and outcome[0]["approval"]["effective_args"] == {"folder": "Receipts"}
    code, outcome = cli.json("approvals", "edit", str(second.id), "--set", "read=false")
    assert code == 0 and outcome[0]["approval"]["effective_args"] == {"read": False}


# ---- an IMAP account on the real Dovecot ---------------------------------------------------
MAILBOX_KINDS = [kind.name for kind in KINDS if isinstance(kind, MailboxKind)]
NO_MOVE = frozenset({"MOVE"})


def receive(
    account: ImapAccount,
    source: ImapSourceSettings,
    ledger: Ledger,
    raw: bytes,
    mailbox: str = "INBOX",
) -> int:
    """The message arrives and the IMAP source hands it to the ledger; its item's id."""
    account.append(raw, mailbox)
    imap = ImapSource(source, account.password, SourceStateStore(ledger.engine), ledger.clock)
    try:
        polled = asyncio.run(imap.poll(ledger.known_keys))
        (item,) = [item for item in polled if item.message_id == message_id_of(raw)]
        asyncio.run(imap.acknowledge([item.key]))
    finally:
        asyncio.run(imap.close())
    item_id = ledger.ingest(item).item_id
    ledger.set_state(item_id, ItemState.AWAITING_APPROVAL)
    return item_id


def folder_flags(account: ImapAccount, folder: str) -> dict[str, set[str]]:
    """Message-ID -> flags (but \\Recent) of every message in a folder ({}: no such folder)."""
    client = account.client()
    try:
        if not client.folder_exists(folder):
            return {}
        client.select_folder(folder, readonly=True)
        fetched = client.fetch(
            client.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]", "FLAGS"]
        )
        return {
            message_id_of(parts[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]) or "": {
                flag.decode() for flag in parts[b"FLAGS"] if flag != b"\\Recent"
            }
            for parts in fetched.values()
        }
    finally:
        client.logout()


@dataclass
class Mailbox:
    """A mailbox source (the Dovecot account "work", or a Maildir), its ledger, queue, outbox."""

    account: ImapAccount | None
    settings: Settings
    secrets: Secrets
    engine: Engine
    clock: FrozenClock
    ledger: Ledger
    queue: ApprovalQueue

    @property
    def imap(self) -> ImapAccount:
        assert self.account is not None
        return self.account

    def receive(self, raw: bytes, mailbox: str = "INBOX") -> int:
        source = self.settings.sources[0]
        assert isinstance(source, ImapSourceSettings)
        return receive(self.imap, source, self.ledger, raw, mailbox)

    def approve(self, item_id: int, *drafts: DraftedAction) -> list[Approval]:
        rows = self.queue.queue_drafts(
            context=context_for(self.ledger, item_id),
            trace_id="5" * 32,
            run_state=None,
            drafts=list(drafts),
        )
        return [self.queue.approve(row.id, shown_hash=row.shown_hash, actor="me") for row in rows]

    def executor(self, disabled: frozenset[str] = frozenset()) -> MailboxExecutor:
        journal = DeliveryJournal(self.engine, self.clock)
        return MailboxExecutor(
            self.engine, self.settings, self.secrets, journal, disabled_capabilities=disabled
        )

    def run(self, disabled: frozenset[str] = frozenset()) -> int:
        executors: dict[str, Any] = dict.fromkeys(MAILBOX_KINDS, self.executor(disabled))
        policy = PolicyGate.from_settings(self.settings)
        outbox = Outbox(self.engine, self.clock, self.settings, self.secrets, policy, executors)
        return asyncio.run(outbox.run_until_idle())

    def get(self, approval_id: int | None) -> Approval:
        assert approval_id is not None
        return self.queue.get(approval_id)

    def decided(
        self, item_id: int, draft: DraftedAction, disabled: frozenset[str] = frozenset()
    ) -> Approval:
        """The action approved and run by the outbox: its row afterwards."""
        (approval,) = self.approve(item_id, draft)
        self.run(disabled)
        return self.get(approval.id)

    def executed(self, item_id: int, draft: DraftedAction, **run: Any) -> dict[str, Any]:
        row = self.decided(item_id, draft, **run)
        assert row.status == ApprovalStatus.EXECUTED, row.last_error
        assert row.result is not None
        return row.result

    def refused(self, item_id: int, draft: DraftedAction, **run: Any) -> str:
        row = self.decided(item_id, draft, **run)
        assert row.status == ApprovalStatus.DEAD
        return row.last_error or ""

    def flags(self, folder: str) -> dict[str, set[str]]:
        return folder_flags(self.imap, folder)

    def message_ids(self, folder: str) -> list[str]:
        return list(self.flags(folder))

    def create(self, folder: str) -> None:
        client = self.imap.client()
        try:
            client.create_folder(folder)
        finally:
            client.logout()


@pytest.fixture
def mailbox(
    settings: Settings, imap_account: ImapAccount, engine: Engine, clock: FrozenClock
) -> Mailbox:
    settings.sources = [imap_account.settings(idle=False, initial_sync="all", mailboxes=["INBOX"])]
    settings.policy.move_folders = ["Receipts"]
    secrets = Secrets({"TEST_IMAP_PASSWORD": imap_account.password})
    ledger = Ledger(engine, clock, settings.worker)
    queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
    box = Mailbox(imap_account, settings, secrets, engine, clock, ledger, queue)
    box.create("Archive")
    box.create("Receipts")
    return box


imap = pytest.mark.slow


@imap
def test_archive_moves_the_message_to_the_archive_folder_once(mailbox: Mailbox) -> None:
    item_id = mailbox.receive(email("<r1@shop.example>"))
    (approval,) = mailbox.approve(item_id, action("move_message"))
    assert mailbox.run() == 1
    done = mailbox.get(approval.id)
    assert done.status == ApprovalStatus.EXECUTED and done.result is not None
    assert (done.result["folder"], done.result["method"], done.result["found_by"]) == (
        "Archive",
        "move",
        "uid",
    )
    assert done.delivery_stage == "moved"
    assert mailbox.message_ids("Archive") == ["<r1@shop.example>"]
    assert mailbox.message_ids("INBOX") == []


@imap
def test_a_move_run_again_finds_the_message_there_and_changes_nothing(mailbox: Mailbox) -> None:
    item_id = mailbox.receive(email("<r2@shop.example>"))
    (approval,) = mailbox.approve(item_id, action("move_message", folder="Receipts"))
    assert mailbox.run() == 1
    again = asyncio.run(mailbox.executor().execute(mailbox.get(approval.id), "another-try"))
    assert (again.summary, again.details["changed"]) == ("work: already in Receipts", False)
    assert mailbox.message_ids("Receipts") == ["<r2@shop.example>"]


@imap
def test_a_folder_outside_the_policy_is_blocked_and_the_message_stays(mailbox: Mailbox) -> None:
    item_id = mailbox.receive(email("<r3@shop.example>"))
    (row,) = mailbox.queue.queue_drafts(
        context=context_for(mailbox.ledger, item_id),
        trace_id="",
        run_state=None,
        drafts=[action("move_message", folder="Trash")],
    )
    assert row.status == ApprovalStatus.BLOCKED
    with pytest.raises(DecisionError):
        mailbox.queue.approve(row.id, shown_hash=row.shown_hash, actor="me")
    assert mailbox.run() == 0
    assert mailbox.message_ids("INBOX") == ["<r3@shop.example>"]


@imap
def test_a_missing_folder_is_created_only_when_the_policy_says_so(mailbox: Mailbox) -> None:
    mailbox.settings.policy.move_folders = ["Travel"]
    first = mailbox.receive(email("<t1@shop.example>"))
    refusal = mailbox.refused(first, action("move_message", folder="Travel"))
    assert "there is no folder 'Travel': create it, or set policy.create_folders" in refusal
    assert mailbox.message_ids("INBOX") == ["<t1@shop.example>"]

    mailbox.settings.policy.create_folders = True
    second = mailbox.receive(email("<t2@shop.example>"))
    assert mailbox.executed(second, action("move_message", folder="Travel"))["created_folder"]
    assert mailbox.message_ids("Travel") == ["<t2@shop.example>"]


@imap
def test_flag_then_unflag_and_a_flag_that_is_set_already_is_left(mailbox: Mailbox) -> None:
    item_id = mailbox.receive(email("<f1@shop.example>"))
    (flagged,) = mailbox.approve(item_id, action("flag_message"))
    mailbox.run()
    assert mailbox.flags("INBOX") == {"<f1@shop.example>": {"\\Flagged"}}
    assert mailbox.get(flagged.id).result == {
        "source": "work",
        "changed": True,
        "mailbox": "INBOX",
        "uid": 1,
        "found_by": "uid",
        "flag": "\\Flagged",
        "present": True,
        "summary": "work: \\Flagged set",
    }
    repeat = asyncio.run(mailbox.executor().execute(mailbox.get(flagged.id), "second-try"))
    assert (repeat.summary, repeat.details["changed"]) == ("work: \\Flagged already set", False)

    mailbox.executed(item_id, action("flag_message", flagged=False))
    assert mailbox.flags("INBOX") == {"<f1@shop.example>": set()}


@imap
def test_a_keyword_is_added_and_the_message_marked_read_then_unread(mailbox: Mailbox) -> None:
    item_id = mailbox.receive(email("<k1@shop.example>"))
    mailbox.approve(item_id, action("tag_message", keyword="$Receipt"), action("mark_read"))
    assert mailbox.run() == 2
    assert mailbox.flags("INBOX") == {"<k1@shop.example>": {"$Receipt", "\\Seen"}}
    mailbox.executed(item_id, action("mark_read", read=False))
    assert mailbox.flags("INBOX") == {"<k1@shop.example>": {"$Receipt"}}


@imap
def test_later_actions_find_the_message_where_an_earlier_one_moved_it(mailbox: Mailbox) -> None:
    item_id = mailbox.receive(email("<a1@shop.example>"))
    mailbox.executed(item_id, action("move_message"))
    flagged = mailbox.executed(item_id, action("flag_message"))
    assert (flagged["mailbox"], flagged["found_by"]) == ("Archive", "message_id")
    assert mailbox.flags("Archive") == {"<a1@shop.example>": {"\\Flagged"}}
    moved = mailbox.executed(item_id, action("move_message", folder="Receipts"))
    assert (moved["mailbox"], moved["changed"]) == ("Archive", True)
    assert mailbox.flags("Receipts") == {"<a1@shop.example>": {"\\Flagged"}}
    assert mailbox.message_ids("Archive") == mailbox.message_ids("INBOX") == []


@imap
def test_after_a_uidvalidity_change_the_message_is_found_by_its_message_id(
    mailbox: Mailbox, imap_account: ImapAccount
) -> None:
    mailbox.settings.sources = [
        imap_account.settings(idle=False, initial_sync="all", mailboxes=["Work"])
    ]
    mailbox.create("Work")
    imap_account.append(email("<other@shop.example>", "Other"), "Work")
    item_id = mailbox.receive(email("<mine@shop.example>"), "Work")
    assert json.loads(mailbox.ledger.get(item_id).metadata_json)["uid"] == 2
    # the mailbox is recreated (restored from a backup): new UIDVALIDITY, UIDs handed out anew,
    # so the recorded UID 2 is now the other message
    client = imap_account.client()
    old = client.select_folder("Work")[b"UIDVALIDITY"]
    client.close_folder()
    client.delete_folder("Work")
    client.create_folder("Work")
    client.append("Work", email("<mine@shop.example>"))
    client.append("Work", email("<other@shop.example>", "Other"))
    client.logout()
    result = imap_account.server.doveadm(
        "mailbox", "update", "-u", imap_account.username, "--uid-validity", str(old + 100), "Work"
    )
    assert result.returncode == 0, result.stderr
    flagged = mailbox.executed(item_id, action("flag_message"))
    moved = mailbox.executed(item_id, action("move_message", folder="Receipts"))
    assert (flagged["found_by"], flagged["uid"], moved["uid"]) == ("message_id", 1, 1)
    assert mailbox.flags("Receipts") == {"<mine@shop.example>": {"\\Flagged"}}
    assert mailbox.flags("Work") == {"<other@shop.example>": set()}


@imap
def test_without_move_it_copies_and_expunges_only_that_message(mailbox: Mailbox) -> None:
    # another message the user marked deleted in their mail client, not expunged yet
    mailbox.imap.append(email("<keep@shop.example>", "Keep"), flags=(b"\\Deleted",))
    item_id = mailbox.receive(email("<c1@shop.example>"))
    assert mailbox.executed(item_id, action("move_message"), disabled=NO_MOVE)["method"] == "copy"
    assert mailbox.message_ids("Archive") == ["<c1@shop.example>"]
    assert mailbox.flags("INBOX") == {"<keep@shop.example>": {"\\Deleted"}}  # still there


@imap
def test_a_server_without_move_or_uidplus_is_refused_before_anything_changes(
    mailbox: Mailbox,
) -> None:
    item_id = mailbox.receive(email("<n1@shop.example>"))
    refusal = mailbox.refused(
        item_id, action("move_message"), disabled=frozenset({"MOVE", "UIDPLUS"})
    )
    assert "the server has neither MOVE nor UIDPLUS" in refusal
    assert mailbox.message_ids("INBOX") == ["<n1@shop.example>"]
    assert mailbox.message_ids("Archive") == []


@imap
def test_a_copy_left_by_a_crash_is_finished_by_expunging_only_its_original(
    mailbox: Mailbox, engine: Engine, clock: FrozenClock
) -> None:
    item_id = mailbox.receive(email("<x1@shop.example>"))
    (approval,) = mailbox.approve(item_id, action("move_message"))
    assert approval.idempotency_key is not None
    # the executor had marked the stage and copied the message when the process died
    DeliveryJournal(engine, clock).mark(approval.idempotency_key, MOVING)
    client = mailbox.imap.client()
    client.select_folder("INBOX")
    client.copy(client.search(["ALL"]), "Archive")
    client.logout()
    result = asyncio.run(mailbox.executor().execute(approval, approval.idempotency_key))
    assert result.summary == "work: moved to Archive (its copy was made before a restart)"
    assert mailbox.message_ids("Archive") == ["<x1@shop.example>"]
    assert mailbox.message_ids("INBOX") == []


@imap
def test_a_copy_the_user_made_already_is_left_and_nothing_is_removed(mailbox: Mailbox) -> None:
    item_id = mailbox.receive(email("<u1@shop.example>"))
    mailbox.imap.append(email("<u1@shop.example>"), "Receipts")
    assert mailbox.executed(item_id, action("move_message", folder="Receipts"))["changed"] is False
    assert mailbox.message_ids("INBOX") == ["<u1@shop.example>"]
    assert mailbox.message_ids("Receipts") == ["<u1@shop.example>"]


# ---- a Maildir -----------------------------------------------------------------------------
@pytest.fixture
def maildir(settings: Settings, engine: Engine, clock: FrozenClock) -> Mailbox:
    settings.sources = [MaildirSourceSettings(name="inbox", path=settings.data_dir / "Mail")]
    settings.policy.move_folders = ["Receipts"]
    settings.policy.create_folders = True
    ledger = Ledger(engine, clock, settings.worker)
    queue = ApprovalQueue(engine, clock, settings, PolicyGate.from_settings(settings))
    return Mailbox(None, settings, Secrets({}), engine, clock, ledger, queue)


def maildir_item(box: Mailbox, *, owned: bool = True) -> tuple[int, str, Path]:
    """A message delivered to the Maildir and handled by its source: item id, key, the root."""
    source = MaildirSourceSettings(name="inbox", path=box.settings.data_dir / "Mail", owned=owned)
    box.settings.sources = [source]
    root = box.settings.source_path(source)
    deliver(root, email("<m1@shop.example>"))
    reader = MaildirSource(source.name, root, owned=owned)
    (item,) = asyncio.run(reader.poll(box.ledger.known_keys))
    asyncio.run(reader.acknowledge([item.key]))
    item_id = box.ledger.ingest(item).item_id
    box.ledger.set_state(item_id, ItemState.AWAITING_APPROVAL)
    return item_id, item.key, root


def files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_an_owned_maildir_archives_into_its_folder_and_keeps_flags_in_the_name(
    maildir: Mailbox,
) -> None:
    item_id, key, root = maildir_item(maildir)
    maildir.approve(item_id, action("move_message"), action("flag_message"), action("mark_read"))
    assert maildir.run() == 3
    assert files(root) == [f".Archive/cur/{key}:2,FS", ".Archive/maildirfolder"]
    assert maildir.executed(item_id, action("flag_message"))["changed"] is False
    maildir.executed(item_id, action("flag_message", flagged=False))
    assert files(root) == [f".Archive/cur/{key}:2,S", ".Archive/maildirfolder"]
    moved = maildir.executed(item_id, action("move_message", folder="Receipts"))
    assert (moved["mailbox"], moved["changed"]) == ("Archive", True)  # where the archive put it
    assert files(root) == [
        ".Archive/maildirfolder",
        f".Receipts/cur/{key}:2,S",
        ".Receipts/maildirfolder",
    ]


def test_a_keyword_on_a_maildir_is_refused(maildir: Mailbox) -> None:
    item_id, _key, _root = maildir_item(maildir)
    refusal = maildir.refused(item_id, action("tag_message", keyword="$Receipt"))
    assert "a Maildir keeps no keyword such as $Receipt: keywords are for IMAP" in refusal


def test_a_maildir_ambient_does_not_own_is_never_changed(maildir: Mailbox) -> None:
    item_id, _key, root = maildir_item(maildir, owned=False)
    before = files(root)
    for draft in (action("move_message"), action("mark_read")):
        refusal = maildir.refused(item_id, draft)
        assert "ambient only reads this Maildir (owned = false)" in refusal
    assert files(root) == before


def test_a_spool_item_is_not_a_mailbox(maildir: Mailbox) -> None:
    item_id, _key, _root = maildir_item(maildir)
    maildir.settings.sources = [SpoolSourceSettings(name="inbox")]
    refusal = maildir.refused(item_id, action("mark_read"))
    assert "the item comes from 'inbox', which is not a mailbox" in refusal
