"""Screens of the launcher."""
