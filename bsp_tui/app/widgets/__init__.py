"""Widgets of the launcher."""
