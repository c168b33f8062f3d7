"""The Textual launcher: one sign-in, every service on one screen."""
