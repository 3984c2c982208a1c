"""Widgets of the approval terminal UI."""
