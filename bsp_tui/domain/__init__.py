"""The domain kernel: identifiers and professions, shared by both halves and every connector.

It imports nothing of the project's own (an import-linter contract keeps it a leaf), so
the launcher, the platform and a third party's connector can all depend on it.
"""
