"""What acting on one message of a mailbox can change (its folder, or one flag), and the outcome.

The same few changes apply to a message of an IMAP account (:mod:`ambient.mail.imap_actions`)
and of a Maildir ambient owns (``ambient.sources.maildir_actions``). None of them deletes a
message: a move leaves it in the target folder, a flag is a flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ambient.core.errors import AmbientError

FLAGGED = "\\Flagged"
SEEN = "\\Seen"


class ActionRefused(AmbientError):
    """The change cannot be made on this mailbox as it is (no such message or folder, a server
    without the means to move one message safely): trying again will not help."""


@dataclass(frozen=True)
class MoveTo:
    folder: str

    def __str__(self) -> str:
        return f"move to {self.folder}"


@dataclass(frozen=True)
class SetFlag:
    flag: str  # a system flag (\\Flagged, \\Seen) or a keyword ($Receipt)
    present: bool  # True: set it; False: clear it

    def __str__(self) -> str:
        return f"{'set' if self.present else 'clear'} {self.flag}"


MailboxChange = MoveTo | SetFlag


@dataclass(frozen=True)
class ChangeOutcome:
    """What a change did: ``changed`` False when the message was so already (nothing done)."""

    changed: bool
    summary: str  # one line for `ambient log` and the TUI
    details: dict[str, Any] = field(default_factory=dict)
