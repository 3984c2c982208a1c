"""Acting on one message of an IMAP account: find it, move it to a folder, set or clear a flag.

Each operation looks before it changes anything, so running it again changes nothing: a message
already in the target folder is not moved again, a flag already so is not stored again. The
message is found by the UID the ledger recorded, while the mailbox has the same UIDVALIDITY and
that UID still holds the message's Message-ID; otherwise (the mailbox was recreated or restored,
the message moved) by ``UID SEARCH HEADER Message-ID``, each hit's header compared exactly.

A move is ``UID MOVE`` (RFC 6851) where the server has MOVE; elsewhere ``UID COPY``, then
``UID STORE +FLAGS (\\Deleted)`` and ``UID EXPUNGE`` of that one UID (UIDPLUS, RFC 4315) —
never a plain EXPUNGE, which would also remove every message another client marked deleted. A
server with neither is refused before anything changes. ``before_moving`` runs right before the
command that moves (the executor records its durable stage there). After a crash, ``resuming``
finishes a move whose copy is in the target while the original is still in its mailbox, by
expunging that original — and only then: a copy the user made is never a reason to remove one.
(A message without a Message-ID cannot be looked for in the target: cut between its COPY and
the expunge, it may be copied twice, never lost.) Nothing here deletes a message.

Blocking (IMAPClient): the executor runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from imapclient import IMAPClient

from ambient.mail.imap_mailbox import MailboxStatus, flags_of, message_ids, search, select
from ambient.mail.mailbox_changes import ActionRefused, ChangeOutcome

DELETED = "\\Deleted"
ANY_KEYWORD = "\\*"


@dataclass(frozen=True)
class MessageRef:
    """Where the ledger saw a message: its mailbox, UIDVALIDITY and UID, and its Message-ID."""

    mailbox: str
    uidvalidity: int | None
    uid: int | None
    message_id: str | None

    def __str__(self) -> str:
        return self.message_id or f"UID {self.uid} of {self.mailbox}"


@dataclass(frozen=True)
class Found:
    mailbox: str
    uid: int
    by: Literal["uid", "message_id"]
    status: MailboxStatus


def find(client: IMAPClient, mailbox: str, ref: MessageRef, *, readonly: bool) -> Found | None:
    """The message in `mailbox` (left selected), by its UID or else its Message-ID; or None."""
    status = select(client, mailbox, readonly=readonly)
    same_uids = mailbox == ref.mailbox and status.uidvalidity == ref.uidvalidity
    if same_uids and ref.uid is not None:
        held = message_ids(client, [ref.uid])
        if ref.uid in held and (ref.message_id is None or held[ref.uid] == ref.message_id):
            return Found(mailbox, ref.uid, "uid", status)
    if ref.message_id is None or status.exists == 0:
        return None
    hits = search(client, ["HEADER", "Message-ID", ref.message_id])
    exact = sorted(
        uid for uid, found in message_ids(client, hits).items() if found == ref.message_id
    )
    return Found(mailbox, exact[0], "message_id", status) if exact else None


def locate(
    client: IMAPClient, ref: MessageRef, elsewhere: Sequence[str] = (), *, skip: str | None = None
) -> Found | None:
    """The message in its mailbox, else by Message-ID in `elsewhere` (the folders a move may
    have put it in), but never in `skip`; the folder it is in is left selected read-write."""
    for mailbox in dict.fromkeys([ref.mailbox, *elsewhere]):
        if mailbox == skip or (mailbox != ref.mailbox and ref.message_id is None):
            continue
        if client.folder_exists(mailbox):
            found = find(client, mailbox, ref, readonly=False)
            if found is not None:
                return found
    return None


def _nowhere(ref: MessageRef, looked: Sequence[str]) -> ActionRefused:
    return ActionRefused(
        f"{ref} is not in {', '.join(dict.fromkeys(looked))}: moved or deleted elsewhere"
    )


def _usable(client: IMAPClient, capability: str, disabled: Collection[str]) -> bool:
    return capability not in disabled and client.has_capability(capability)


def _how_to_move(client: IMAPClient, disabled: Collection[str]) -> Literal["move", "copy"]:
    if _usable(client, "MOVE", disabled):
        return "move"
    if _usable(client, "UIDPLUS", disabled):
        return "copy"
    raise ActionRefused(
        "the server has neither MOVE nor UIDPLUS, so one message cannot be moved without "
        "expunging every message marked deleted there; move it in your mail client"
    )


def _expunge_original(client: IMAPClient, uid: int, disabled: Collection[str]) -> None:
    """Mark the original of a copied message deleted and expunge that one UID (UIDPLUS)."""
    if not _usable(client, "UIDPLUS", disabled):
        raise ActionRefused(
            "the server has no UIDPLUS: ambient will not EXPUNGE the whole mailbox to remove "
            f"the original of a copied message (UID {uid}); delete it in your mail client"
        )
    client.add_flags([uid], [DELETED], silent=True)
    client.uid_expunge([uid])


def ensure_folder(client: IMAPClient, folder: str, *, create: bool) -> bool:
    """True when the folder had to be created; ActionRefused when it is missing and may not be."""
    if client.folder_exists(folder):
        return False
    if not create:
        raise ActionRefused(
            f"there is no folder {folder!r}: create it, or set policy.create_folders = true"
        )
    client.create_folder(folder)
    client.subscribe_folder(folder)
    return True


def move(
    client: IMAPClient,
    ref: MessageRef,
    folder: str,
    *,
    elsewhere: Sequence[str] = (),
    create_folder: bool = False,
    resuming: bool = False,
    before_moving: Callable[[], None] = lambda: None,
    disabled: Collection[str] = frozenset(),
) -> ChangeOutcome:
    """Move the message to `folder`, unless it is there already (see the module's doc); it is
    looked for in its mailbox, then in `elsewhere` (an earlier move may have put it there).

    `disabled`: capabilities not to use even where the server has them (the COPY path's test).
    """
    created = ensure_folder(client, folder, create=create_folder)
    there = find(client, folder, ref, readonly=True)
    here = locate(client, ref, elsewhere, skip=folder)  # selected read-write from here on
    details: dict[str, object] = {"mailbox": here.mailbox if here else ref.mailbox}
    details["folder"] = folder
    if created:
        details["created_folder"] = True
    if here is not None:
        details.update(uid=here.uid, found_by=here.by)
    if there is not None:
        details["uid_in_folder"] = there.uid
        if here is None:
            return ChangeOutcome(False, f"already in {folder}", details)
        if not resuming:  # the user's own copy: nothing of theirs is removed
            left = f"already in {folder} (the message in {here.mailbox} is left)"
            return ChangeOutcome(False, left, details)
        _expunge_original(client, here.uid, disabled)
        details["method"] = "copy"
        done = f"moved to {folder} (its copy was made before a restart)"
        return ChangeOutcome(True, done, details)
    if here is None:
        if resuming and ref.message_id is None:  # MOVE is atomic: gone from the mailbox = moved
            gone = f"no longer in {ref.mailbox}: moved before a restart"
            return ChangeOutcome(False, gone, details)
        raise _nowhere(ref, [ref.mailbox, *elsewhere, folder])
    method = _how_to_move(client, disabled)
    before_moving()
    if method == "move":
        client.move([here.uid], folder)
    else:
        client.copy([here.uid], folder)
        _expunge_original(client, here.uid, disabled)
    details["method"] = method
    if ref.message_id is not None:
        arrived = find(client, folder, ref, readonly=True)
        details["uid_in_folder"] = arrived.uid if arrived is not None else None
    return ChangeOutcome(True, f"moved to {folder}", details)


def _may_keep(flag: str, permanent: Sequence[str]) -> bool:
    wanted = flag.lower()
    return any(entry == ANY_KEYWORD or entry.lower() == wanted for entry in permanent)


def set_flag(
    client: IMAPClient,
    ref: MessageRef,
    flag: str,
    present: bool,
    *,
    elsewhere: Sequence[str] = (),
) -> ChangeOutcome:
    """Set (`present`) or clear a flag or keyword, unless it is so already. The message is
    looked for in its mailbox, then by Message-ID in `elsewhere` (where a move may have put it)."""
    found = locate(client, ref, elsewhere)
    if found is None:
        raise _nowhere(ref, [ref.mailbox, *elsewhere])
    details: dict[str, object] = {
        "mailbox": found.mailbox,
        "uid": found.uid,
        "found_by": found.by,
        "flag": flag,
        "present": present,
    }
    current = {entry.lower() for entry in flags_of(client, found.uid)}
    state = "set" if present else "cleared"
    if (flag.lower() in current) == present:
        return ChangeOutcome(False, f"{flag} already {state}", details)
    if present:
        if not _may_keep(flag, found.status.permanent_flags):
            raise ActionRefused(f"{found.mailbox} does not keep the flag {flag} (PERMANENTFLAGS)")
        client.add_flags([found.uid], [flag], silent=True)
    else:
        client.remove_flags([found.uid], [flag], silent=True)
    return ChangeOutcome(True, f"{flag} {state}", details)
