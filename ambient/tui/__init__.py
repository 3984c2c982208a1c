"""The approval terminal UI (Textual): `ambient tui`, where the human reviews and decides."""
