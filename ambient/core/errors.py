"""The small family of errors a user can act on.

They are raised anywhere inside ambient and turned into a one-line message with a meaningful
exit code only at the edge (the CLI, the TUI).
"""


class AmbientError(Exception):
    """Base class: something the user can fix, with a message that says how."""

    exit_code = 2


class ConfigError(AmbientError):
    """The configuration (ambient.toml, .env, environment) is invalid."""


class InputError(AmbientError):
    """A file or value given on the command line cannot be used."""


class StorageError(AmbientError):
    """The database cannot be opened, migrated or written."""


class SourceError(AmbientError):
    """A source (IMAP account, Maildir, spool folder) cannot be read."""


class NotFoundError(AmbientError):
    """A named thing (item, approval, memory file) does not exist."""

    exit_code = 3


class DecisionError(AmbientError):
    """A decision on an approval was refused (stale, already decided, invalid arguments)."""

    exit_code = 4


class PolicyViolation(AmbientError):
    """An action breaks a policy rule that blocks it."""

    exit_code = 5
