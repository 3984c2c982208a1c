"""`ambient memory learn-style`: the user's sent mail, counted, proposed as writing_style.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from ambient.approvals.tables import Approval, ApprovalStatus
from ambient.core.config import Secrets, Settings
from ambient.core.db import read_session
from ambient.core.diffs import changed_lines, make_diff
from ambient.core.errors import AmbientError, InputError, NotFoundError
from ambient.core.items import ItemState
from ambient.core.quoting import own_text
from ambient.core.tables import Item
from ambient.mail.sent_reading import read_imap_sent
from ambient.memory.changes import MemoryChanges
from ambient.memory.history import MemoryHistory
from ambient.memory.learn_style import LearnedStyle, learn_style, read_sent_mail, written
from ambient.memory.store import MemoryStore
from ambient.memory.style import analyse
from ambient.memory.style_measure import measure
from ambient.runtime import Runtime
from tests.conftest import CommandLine
from tests.daemon.test_imap_source import server_flags
from tests.servers.dovecot import ImapAccount

ME = "me@example.com"


def sent_email(number: int, body: str, *, sender: str = f"Sam Lee <{ME}>") -> bytes:
    head = (
        f"From: {sender}\r\nTo: someone@example.com\r\nSubject: Message {number}\r\n"
        f"Date: Mon, {number:02d} Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <sent-{number}@example.com>\r\n\r\n"
    )
    return (head + body.replace("\n", "\r\n")).encode("utf-8")


SENT = [
    sent_email(
        2,
        "Hi Dana,\n\nThanks for the notes. Let me know if Friday works.\n\nBest,\nSam\n\n"
        "On Mon, 23 Nov 2026 at 09:00, Dana <dana@example.com> wrote:\n"
        "> Here are my notes. Thanks for the invite to the offsite.\n> Cheers\n",
    ),
    sent_email(
        3,
        "Hi Tom,\n\nI'm running late, sorry. Let me know if that's a problem.\n\nBest,\nSam\n"
        "-- \nSam Lee\nThanks for the read! Example Corp, +1 555 0100\n",
    ),
    sent_email(
        4, "Hello,\n\nThanks for the quick reply! I'll send the file today.\n\nCheers,\nSam"
    ),
    sent_email(
        5,
        "Hi Ana,\n\n> Can you review the draft? Let me know if you can.\nYes, I can do it "
        "tomorrow. Let me know if you need it sooner.\n\nBest,\nSam",
    ),
    sent_email(
        6,
        "Thanks for the invite. I can't make it this time.\n\nBest,\nSam\n\n"
        "-----Original Message-----\nFrom: Lee\nSent: Monday\n\nLet me know if you come!\n",
    ),
    sent_email(7, "Hi Dana,\n\nSounds good.\n\nCheers,\nSam\n\nSent from my iPhone"),
    sent_email(
        8, "Hello,\n\nPlease find the summary below. Thanks for the help everyone.\n\nThanks,\nSam"
    ),
    # a forward without a word of the user's own: read, but nothing to learn from
    sent_email(9, "---------- Forwarded message ---------\nFrom: X\n\nLet me know if ...\n"),
    # someone else's message filed in Sent: not the user's
    sent_email(10, "Hey!\n\nLet me know if Thanks for the x.\n\nCheers", sender="dana@example.com"),
]

SECTION = """\
## Learned from sent mail
> ambient writes this section from the mail you sent (`ambient memory learn-style`) and
> replaces it when that runs again: keep your own rules in the other sections.
- Based on 7 messages I sent, 2026-11-02 to 2026-11-08.
- Greeting: "Hi <name>," (57%).
- Sign-off: "Best," (57%), then my name (100%).
- Length: median 10 words, 2 sentences (greeting and sign-off aside).
- Tone: contractions in 43% of messages, exclamation marks in 14%, emoji in 0%.
- Language: English (86%).
- Phrases I often use: "thanks for the" (57%), "let me know if" (43%).
"""


def write_maildir(folder: Path, messages: list[bytes]) -> Path:
    for name in ("cur", "new", "tmp"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for number, raw in enumerate(messages, start=1):
        (folder / "cur" / f"17000000{number:02d}.M{number}P1.host:2,S").write_bytes(raw)
    return folder


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    return write_maildir(tmp_path / "Sent", SENT)


@pytest.fixture
def me(settings: Settings) -> Settings:
    settings.user_email = ME
    return settings


def learn(runtime: Runtime, maildir: Path, limit: int = 200) -> LearnedStyle:
    sent, _ = read_sent_mail(runtime.settings, runtime.secrets, maildir=maildir, limit=limit)
    return learn_style(
        engine=runtime.engine,
        clock=runtime.clock,
        settings=runtime.settings,
        queue=runtime.queue,
        store=runtime.memory,
        changes=MemoryChanges(runtime.memory.folder, runtime.memory_history),
        sent=sent,
        actor=runtime.actor,
    )


def memory_updates(engine: Engine) -> list[Approval]:
    with read_session(engine) as session:
        return list(session.exec(select(Approval).where(Approval.kind == "memory_update")))


async def approve_and_run(runtime: Runtime, approval_id: int) -> None:
    row = runtime.queue.get(approval_id)
    runtime.queue.approve(approval_id, shown_hash=runtime.queue.shown_hash(row), actor="me")
    await runtime.outbox.tick()
    executed = runtime.queue.get(approval_id)
    assert executed.status == ApprovalStatus.EXECUTED, executed.last_error


def test_own_text_leaves_out_quotes_history_signature_and_device_footers() -> None:
    body = (
        "Hi Ana,\n\n> Can you review it?\nYes, tomorrow.\n\nBest,\nSam\n\nSent from my iPhone\n"
        "On Mon, 23 Nov 2026 at 09:00, Ana <ana@example.com>\nwrote:\n> Thanks!\n"
    )
    assert own_text(body) == "Hi Ana,\n\nYes, tomorrow.\n\nBest,\nSam"
    assert own_text("Sure.\n-- \nSam Lee\nExample Corp") == "Sure."
    assert own_text("Yes.\n\n-----Original Message-----\nFrom: Dana\n\nOld text") == "Yes."
    assert own_text("---------- Forwarded message ---------\nFrom: X\n\nText") == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hallo Jan,\nich bin morgen nicht da, das ist gut.\nViele Grüße\nSam",
            ("Hallo <name>,", "Viele Grüße", True, "German"),
        ),
        (
            "Hi all!\nThanks for the update, it is fine.\nCheers, Sam",
            ("Hi all!", "Cheers,", True, "English"),
        ),
        ("Morning meeting is moved to the 10th.\nThanks", ("", "Thanks", False, "English")),
        ("Thanks for the update.\nOnwards,\nSam", ("", "Onwards,", True, "English")),
        ("Thanks for the update.", ("", "", False, "English")),
        ("Ok, see you soon.", ("", "", False, None)),  # too few common words to tell
    ],
)
def test_greeting_sign_off_and_language_are_read_from_the_message(
    text: str, expected: tuple[str, str, bool, str | None]
) -> None:
    shape = measure(text)
    assert (shape.greeting, shape.sign_off, shape.name_after, shape.language) == expected


def test_the_sent_mail_gives_exact_statistics_from_the_users_own_words(
    me: Settings, secrets: Secrets, maildir: Path
) -> None:
    sent, addresses = read_sent_mail(me, secrets, maildir=maildir)
    report = analyse(written(sent))

    assert addresses == [ME]
    assert (sent.scanned, len(sent.messages), report.messages) == (9, 8, 7)
    assert [message.date.day for message in sent.messages if message.date] == [
        9, 8, 7, 6, 5, 4, 3, 2,
    ]  # fmt: skip
    assert (str(report.first), str(report.last)) == ("2026-11-02", "2026-11-08")
    assert [(s.text, s.count, s.percent) for s in report.greetings] == [("Hi <name>,", 4, 57)]
    assert [(s.text, s.count) for s in report.sign_offs] == [("Best,", 4)]  # Cheers: only 2
    assert report.name_after_sign_off is not None and report.name_after_sign_off.count == 7
    assert (report.median_words, report.median_sentences) == (10, 2)
    assert (report.contractions.count, report.exclamations.count, report.emoji.count) == (3, 1, 0)
    assert [(s.text, s.count) for s in report.languages] == [("English", 6)]
    # "invite" (once in the user's words, again only in a quote) and the signature's words
    # never count; the longest sequence wins over the pieces inside it
    assert [(s.text, s.count) for s in report.phrases] == [
        ("thanks for the", 4), ("let me know if", 3),
    ]  # fmt: skip


def test_the_newest_messages_are_taken_up_to_the_limit(
    me: Settings, secrets: Secrets, maildir: Path
) -> None:
    sent, _ = read_sent_mail(me, secrets, maildir=maildir, limit=3)
    assert [message.date.day for message in sent.messages if message.date] == [9, 8, 7]


def test_the_style_is_proposed_as_a_memory_update_of_its_own_section(
    me: Settings, runtime: Runtime, store: MemoryStore, maildir: Path
) -> None:
    template = store.read("writing_style.md")

    learned = learn(runtime, maildir)

    assert learned.outcome == "proposed" and learned.status == "pending"
    (proposal,) = memory_updates(runtime.engine)
    assert proposal.id == learned.approval_id
    expected = make_diff("writing_style.md", template, template + "\n" + SECTION)
    assert proposal.args["diff"] == learned.diff == expected
    assert all(op == "+" for op, _ in changed_lines(expected))  # the user's lines untouched
    assert proposal.args["file"] == "writing_style.md"
    assert proposal.args["reason"].startswith("Learned from 7 messages you sent (2026-11-02 to")
    assert store.read("writing_style.md") == template  # nothing written before approval
    item = runtime.ledger.get(proposal.item_id)
    assert (item.source, item.kind, item.state) == ("learn-style", "style", ItemState.DONE)
    assert "Dana" not in runtime.ledger.content(proposal.item_id).decode()  # the section only


async def test_running_again_with_the_same_mail_proposes_nothing_new(
    me: Settings, runtime: Runtime, store: MemoryStore, maildir: Path
) -> None:
    first = learn(runtime, maildir)
    assert first.approval_id is not None

    again = learn(runtime, maildir)
    assert again.outcome == "up_to_date"
    assert again.covered_by == f"approval {first.approval_id} (pending)"
    assert len(memory_updates(runtime.engine)) == 1

    await approve_and_run(runtime, first.approval_id)
    assert store.read("writing_style.md").endswith("\n\n" + SECTION)
    assert MemoryHistory(store.folder).log()[0].subject == (
        "memory: writing_style.md — learned from your sent mail"
    )
    after = learn(runtime, maildir)
    assert (after.outcome, after.covered_by) == ("up_to_date", "the file")
    assert len(memory_updates(runtime.engine)) == 1


async def test_new_mail_replaces_the_section_in_place_and_the_users_lines_survive(
    me: Settings, runtime: Runtime, store: MemoryStore, tmp_path: Path
) -> None:
    path = store.folder / "writing_style.md"
    mine_before = "# Writing style\n\n## Tone\n- Never write 'Cheers'.\n\n"
    mine_after = '\n## Form\n- Greeting: "Hi <first name>,"\n'
    old_section = SECTION.replace("7 messages", "5 messages").replace("(57%)", "(60%)")
    path.write_text(mine_before + old_section + mine_after, "utf-8")

    learned = learn(runtime, write_maildir(tmp_path / "Sent", SENT))

    assert learned.outcome == "proposed" and learned.approval_id is not None
    removed = [text for op, text in changed_lines(learned.diff) if op == "-"]
    assert removed and all(line in old_section.splitlines() for line in removed)
    await approve_and_run(runtime, learned.approval_id)
    assert path.read_text("utf-8") == mine_before + SECTION + mine_after


def test_auto_apply_commits_the_section_at_once(
    me: Settings, runtime: Runtime, store: MemoryStore, maildir: Path
) -> None:
    me.memory.auto_apply = True

    learned = learn(runtime, maildir)

    assert learned.outcome == "applied" and learned.revision is not None
    assert memory_updates(runtime.engine) == []
    assert store.read("writing_style.md").endswith(SECTION)
    assert MemoryHistory(store.folder).log()[0].revision == learned.revision


def test_a_change_bigger_than_max_changed_lines_is_refused_saying_so(
    me: Settings, runtime: Runtime, store: MemoryStore, maildir: Path
) -> None:
    me.memory.max_changed_lines = 5
    with pytest.raises(AmbientError, match="raise memory.max_changed_lines"):
        learn(runtime, maildir)
    assert memory_updates(runtime.engine) == []


def test_clear_errors_for_a_bad_path_or_no_mail_of_the_users(
    me: Settings, secrets: Secrets, tmp_path: Path
) -> None:
    def read(**options: object) -> object:
        return read_sent_mail(me, secrets, **options)

    with pytest.raises(InputError, match="does not exist"):
        read(maildir=tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match=r"not a Maildir folder \(it has no cur/ or new/"):
        read(maildir=tmp_path / "plain")
    with pytest.raises(NotFoundError, match="has no messages"):
        read(maildir=write_maildir(tmp_path / "Empty", []))
    others = write_maildir(tmp_path / "Others", [sent_email(2, "Hi", sender="x@example.com")])
    with pytest.raises(NotFoundError, match=r"none of the 1 messages .* is from you \(me@"):
        read(maildir=others)
    with pytest.raises(InputError, match="no IMAP source is configured"):
        read()
    with pytest.raises(InputError, match="not both"):
        read(source="work", maildir=others)
    me.user_email = None
    with pytest.raises(InputError, match="set user_email"):
        read(maildir=others)


def test_too_few_messages_of_ones_own_is_an_error_not_a_guess(
    me: Settings, runtime: Runtime, store: MemoryStore, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match="only 2 of your messages .* at least 3"):
        learn(runtime, write_maildir(tmp_path / "Few", SENT[:2]))


def test_the_imap_sent_folder_is_read_without_changing_it(imap_account: ImapAccount) -> None:
    helper = imap_account.client()
    helper.create_folder("Sent")
    helper.logout()
    for number, raw in enumerate(SENT):
        imap_account.append(raw, "Sent", flags=(b"\\Seen",) if number % 2 else ())
    before = server_flags(imap_account, "Sent")
    settings = imap_account.settings(address=ME)

    sent = read_imap_sent(settings, imap_account.password, [ME], limit=5)

    assert sent.folder == "work: Sent" and sent.scanned == 6  # newest first, until 5 are found
    assert [message.raw for message in sent.messages] == SENT[7::-1][:5]
    assert server_flags(imap_account, "Sent") == before  # unseen mail stays unseen
    assert any(b"\\Seen" not in flags for flags in before.values())


def test_an_account_without_a_sent_folder_says_so_and_creates_none(
    imap_account: ImapAccount,
) -> None:
    settings = imap_account.settings(address=ME)
    with pytest.raises(NotFoundError, match=r"no Sent folder: 'Sent' does not exist"):
        read_imap_sent(settings, imap_account.password, [ME], limit=5)
    helper = imap_account.client()
    try:
        assert not helper.folder_exists("Sent")
    finally:
        helper.logout()


def test_the_command_reads_the_configured_imap_account(
    cli: CommandLine,
    imap_account: ImapAccount,
    store: MemoryStore,
    ambient_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    helper = imap_account.client()
    helper.create_folder("Sent")
    helper.logout()
    for raw in SENT:
        imap_account.append(raw, "Sent")
    (ambient_home / "ambient.toml").write_text(
        f'[[sources]]\ntype = "imap"\nname = "work"\nhost = "{imap_account.server.host}"\n'
        f'port = {imap_account.server.port}\nsecurity = "none"\n'
        f'username = "{imap_account.username}"\naddress = "{ME}"\n'
        'password_env = "TEST_IMAP_PASSWORD"\n',
        "utf-8",
    )
    monkeypatch.setenv("TEST_IMAP_PASSWORD", imap_account.password)

    code, shown = cli.json("memory", "learn-style")

    assert code == 0, shown
    assert (shown["folder"], shown["read"], shown["outcome"]) == ("work: Sent", 8, "proposed")
    assert shown["addresses"] == [ME] and shown["style"]["messages"] == 7


def test_the_command_prints_what_it_found_and_the_approval(
    cli: CommandLine,
    store: MemoryStore,
    maildir: Path,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AMBIENT_USER_EMAIL", ME)

    code, shown = cli.json("memory", "learn-style", "--maildir", str(maildir))
    assert code == 0, shown
    assert shown["outcome"] == "proposed" and shown["diff"].endswith(
        "".join(f"+{line}\n" for line in SECTION.splitlines())
    )
    code, out = cli.run("memory", "learn-style", "--maildir", str(maildir))
    text = " ".join(out.split())  # as Rich wraps it or not

    assert code == 0, out
    assert f"Read 8 of your messages ({ME}) of 9 in {maildir}; 7 have text of your own" in text
    assert '- Greeting: "Hi <name>," (57%).' in text
    assert (
        f"writing_style.md is already up to date: approval {shown['approval_id']} (pending) "
        "already makes this change." in text
    )
    with read_session(engine) as session:
        assert len(list(session.exec(select(Item).where(Item.source == "learn-style")))) == 1

    code, out = cli.run("memory", "learn-style", "--maildir", str(maildir / "missing"))
    assert code == 2 and "missing does not exist" in out
