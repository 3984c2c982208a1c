"""The `test` model: a deterministic offline stand-in that triages, drafts and reflects readably."""
