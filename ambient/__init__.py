"""ambient: an ambient background agent daemon that drafts, and waits for your approval."""

__version__ = "0.1.0"
