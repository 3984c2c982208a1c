"""`ambient memory learn-style`: the style of the user's sent mail, proposed for writing_style.md.

The sent mail is read without changing it (``ambient.mail.sent_reading``): the configured IMAP
account's Sent folder, or a Maildir folder. What the statistics find (``ambient.memory.style``)
becomes one section of ``writing_style.md`` that ambient owns, "## Learned from sent mail": added
at the end, or replaced in place when it is there; the user's own lines are never touched. The
change goes the way reflection's go: a ``memory_update`` approval in the queue (or, with
``memory.auto_apply``, a commit right away), within ``memory.max_changed_lines``, unless the file
or an open proposal already makes it: then it is "already up to date" and nothing is queued.

An approval belongs to an item, so each proposal is recorded as one of its own (source
``learn-style``, kind ``style``): done from the start, so no worker takes it, and holding the
section proposed as its text, never the mail it was learned from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine
from sqlmodel import select

from ambient.approvals.drafts import ActionContext, DraftedAction
from ambient.approvals.kinds import ActionKind
from ambient.approvals.kinds.memory_update import MemoryUpdate
from ambient.approvals.queue import ApprovalQueue
from ambient.core.clock import Clock
from ambient.core.config import ImapSourceSettings, Secrets, Settings
from ambient.core.db import write_session
from ambient.core.diffs import (
    ChangeLimits,
    DiffError,
    check_change,
    join_lines,
    make_diff,
    sha256_text,
    split_lines,
)
from ambient.core.errors import AmbientError, InputError, NotFoundError
from ambient.core.ids import trace_id_for_item
from ambient.core.items import ItemState
from ambient.core.message import UnparseableMessage, parse_message
from ambient.core.quoting import own_text
from ambient.core.tables import Item, ItemContent
from ambient.mail.sent_reading import SentMail, read_imap_sent, read_maildir_sent
from ambient.memory.causes import STYLE_CAUSE, STYLE_CAUSE_TEXT, commit_subject
from ambient.memory.changes import MemoryChanges
from ambient.memory.proposals import close_applied, compare
from ambient.memory.sections import parse_headings
from ambient.memory.store import MemoryStore
from ambient.memory.style import MIN_MESSAGES, StyleReport, Written, analyse, describe

STYLE_FILE = "writing_style.md"
SECTION = "Learned from sent mail"
SOURCE = "learn-style"  # the items its proposals belong to
DEFAULT_LIMIT = 200
NOTE = (
    "> ambient writes this section from the mail you sent (`ambient memory learn-style`) and",
    "> replaces it when that runs again: keep your own rules in the other sections.",
)

Outcome = Literal["proposed", "applied", "up_to_date"]


@dataclass(frozen=True)
class LearnedStyle:
    folder: str
    scanned: int  # messages in the folder whose headers were read
    read: int  # of them the user's, read in full
    report: StyleReport
    file: str
    outcome: Outcome
    diff: str = ""  # what was proposed or applied ("" when up to date)
    covered_by: str | None = None  # what already makes the change, when up to date
    approval_id: int | None = None
    status: str | None = None  # the approval's (pending, or blocked by the policy gate)
    revision: str | None = None  # the commit, when applied

    def as_json(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "scanned": self.scanned,
            "read": self.read,
            "style": self.report.as_json(),
            "file": self.file,
            "outcome": self.outcome,
            "diff": self.diff,
            "covered_by": self.covered_by,
            "approval_id": self.approval_id,
            "status": self.status,
            "revision": self.revision,
        }


# ---- reading the sent mail ----------------------------------------------------------------
def user_addresses(settings: Settings, account: ImapSourceSettings | None = None) -> list[str]:
    """The From addresses that are the user's: ``user_email``, and the account's own (every
    IMAP account's, without one), with the SMTP from-addresses."""
    accounts = [account] if account is not None else [
        source for source in settings.sources if isinstance(source, ImapSourceSettings)
    ]  # fmt: skip
    candidates = [settings.user_email, settings.smtp.from_address if settings.smtp else None]
    for imap in accounts:
        candidates += [imap.address, imap.username, imap.smtp.from_address if imap.smtp else None]
    found = [address.strip().lower() for address in candidates if address and "@" in address]
    return list(dict.fromkeys(found))


def _account(settings: Settings, source: str | None) -> ImapSourceSettings:
    accounts = [item for item in settings.sources if isinstance(item, ImapSourceSettings)]
    if source is None:
        if len(accounts) == 1:
            return accounts[0]
        if not accounts:
            raise InputError(
                "no IMAP source is configured: pass a Maildir folder of your sent mail with "
                "--maildir PATH"
            )
        names = ", ".join(account.name for account in accounts)
        raise InputError(f"several IMAP sources ({names}): choose one with --source NAME")
    named = next((item for item in settings.sources if item.name == source), None)
    if named is None:
        names = ", ".join(item.name for item in settings.sources) or "none"
        raise NotFoundError(f"no source named {source!r} (sources: {names})")
    if not isinstance(named, ImapSourceSettings):
        raise InputError(
            f"source {source!r} is a {named.type} source: learn-style reads an IMAP account's "
            "Sent folder; pass a Maildir folder of your sent mail with --maildir PATH"
        )
    return named


def read_sent_mail(
    settings: Settings,
    secrets: Secrets,
    *,
    source: str | None = None,
    maildir: Path | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[SentMail, list[str]]:
    """The user's newest `limit` sent messages, and the addresses taken as theirs."""
    if limit < 1:
        raise InputError(f"--limit: expected at least 1 message, got {limit}")
    if source is not None and maildir is not None:
        raise InputError("give --source NAME or --maildir PATH, not both")
    account = None if maildir is not None else _account(settings, source)
    addresses = user_addresses(settings, account)
    if not addresses:
        raise InputError(
            "ambient does not know your address, so it cannot tell your messages apart: set "
            "user_email in ambient.toml (or AMBIENT_USER_EMAIL)"
        )
    if account is None:
        assert maildir is not None
        sent = read_maildir_sent(maildir, addresses, limit)
    else:
        sent = read_imap_sent(account, secrets.get(account.password_env), addresses, limit)
    if sent.scanned == 0:
        raise NotFoundError(f"{sent.folder} has no messages")
    if not sent.messages:
        raise NotFoundError(
            f"none of the {sent.scanned} messages in {sent.folder} is from you "
            f"({', '.join(addresses)}); if you send as another address, set user_email"
        )
    return sent, addresses


def written(sent: SentMail) -> list[Written]:
    """What the user wrote in each message (quotes, history and signature left out)."""
    found = []
    for message in sent.messages:
        try:
            text = parse_message(message.raw).text
        except UnparseableMessage:
            continue
        found.append(Written(own_text(text), message.date))
    return found


# ---- the section in writing_style.md ------------------------------------------------------
def with_section(current: str, report: StyleReport) -> str:
    """`current` with ambient's section added at the end, or replaced where it is."""
    block = [f"## {SECTION}", *NOTE, *describe(report)]
    lines, newline, _ = split_lines(current)
    heading = next(
        (
            found
            for found in parse_headings(current)
            if found.level == 2 and found.title.casefold() == SECTION.casefold()
        ),
        None,
    )
    if heading is None:
        while lines and not lines[-1].strip():
            lines.pop()
        return join_lines([*lines, *([""] if lines else []), *block], newline, True)
    old = lines[heading.line - 1 : heading.end_line]
    blank_after = len(old) - len("\n".join(old).rstrip().split("\n"))
    new = [*lines[: heading.line - 1], *block, *[""] * blank_after, *lines[heading.end_line :]]
    return join_lines(new, newline, True)


# ---- proposing it -------------------------------------------------------------------------
def _style_item(engine: Engine, clock: Clock, key: str, subject: str, text: str) -> Item:
    """The item a proposal belongs to: created done (no worker takes it), or found again."""
    with write_session(engine) as session:
        found = session.exec(select(Item).where(Item.source == SOURCE, Item.key == key)).first()
        if found is not None:
            return found
        now = clock.now()
        item = Item(
            source=SOURCE,
            key=key,
            kind="style",
            state=ItemState.DONE,
            subject=subject,
            sender="ambient memory learn-style",
            created_at=now,
            updated_at=now,
            trace_id=trace_id_for_item(SOURCE, key),
            metadata_json=json.dumps({"file": STYLE_FILE}),
        )
        session.add(item)
        session.flush()
        assert item.id is not None
        session.add(ItemContent(item_id=item.id, raw=text.encode("utf-8")))
        return item


def learn_style(
    *,
    engine: Engine,
    clock: Clock,
    settings: Settings,
    queue: ApprovalQueue,
    store: MemoryStore,
    changes: MemoryChanges,
    sent: SentMail,
    actor: str,
) -> LearnedStyle:
    """Measure the user's style in `sent` and propose it as ambient's section of the file."""
    if not store.folder.is_dir():
        raise NotFoundError(f"memory folder {store.folder} does not exist; run `ambient init`")
    report = analyse(written(sent))
    if report.messages < MIN_MESSAGES:
        raise NotFoundError(
            f"only {report.messages} of your messages in {sent.folder} have text of your own "
            f"(not only quotes or a signature): at least {MIN_MESSAGES} are needed"
        )

    def learned(outcome: Outcome, **found: Any) -> LearnedStyle:
        return LearnedStyle(
            sent.folder, sent.scanned, len(sent.messages), report, STYLE_FILE, outcome, **found
        )

    try:
        current = store.read(STYLE_FILE)
    except NotFoundError:
        current = ""
    new_text = with_section(current, report)
    if new_text == current:
        return learned("up_to_date", covered_by="the file")
    # the section is ambient's own, so replacing all of it is no rewrite of the user's lines
    limits = ChangeLimits(settings.memory.max_changed_lines, max_removed_share=1.0)
    try:
        diff = check_change(STYLE_FILE, current, make_diff(STYLE_FILE, current, new_text), limits)
    except DiffError as error:
        raise AmbientError(
            f"{STYLE_FILE}: {error}; raise memory.max_changed_lines in ambient.toml to let the "
            "learned section through"
        ) from error
    comparison = compare(engine, STYLE_FILE, current, diff.diff)
    if comparison.covers:
        return learned("up_to_date", covered_by=comparison.covers)
    base = sha256_text(current)
    span = f" ({report.first} to {report.last})" if report.first and report.last else ""
    reason = (
        f"Learned from {report.messages} messages you sent{span} in {sent.folder}: greetings, "
        "sign-offs, length, tone, language and phrases that enough of them share."
    )
    update = MemoryUpdate(file=STYLE_FILE, diff=diff.diff, base_sha256=base, reason=reason)
    key = f"{STYLE_CAUSE}{sha256_text(diff.diff)[:16]}"
    if settings.memory.auto_apply:
        applied = changes.apply(
            file=STYLE_FILE,
            diff=update.diff,
            base_sha256=base,
            subject=commit_subject(STYLE_FILE, STYLE_CAUSE_TEXT),
            reason=reason,
            key=f"auto-{key}-{clock.now().isoformat()}",  # an undone change can be made again
        )
        close_applied(
            engine, clock.now(), folder=store.folder, file=applied.file,
            revision=applied.revision, actor=actor,
        )  # fmt: skip
        return learned("applied", diff=update.diff, revision=applied.revision)
    section = "\n".join(describe(report))
    item = _style_item(engine, clock, key, f"Writing style from {sent.folder}", section + "\n")
    assert item.id is not None
    rationale = reason
    if comparison.overlapping:
        ids = ", ".join(str(row.id) for row in comparison.overlapping)
        rationale += f" (It replaces the section approval {ids} proposes, still open.)"
    (row,) = queue.queue_drafts(
        context=ActionContext(item.id, frozenset(), f"memory:{STYLE_FILE}@{base[:12]}"),
        trace_id=item.trace_id or "",
        run_state=None,
        drafts=[DraftedAction(ActionKind.MEMORY_UPDATE, key, update.model_dump(), rationale)],
    )
    return learned("proposed", diff=update.diff, approval_id=row.id, status=row.status.value)
