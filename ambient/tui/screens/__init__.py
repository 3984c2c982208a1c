"""Screens of the approval terminal UI."""
