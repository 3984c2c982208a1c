"""Talking to mail servers: IMAP connections and mailboxes, the Sent folder, SMTP."""
