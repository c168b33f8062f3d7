"""The screen contract: what a connector's screen receives and how the launcher hosts it.

The launcher mounts a connector's view (a Textual widget) inside its own screen, with
the session bar, the patient context and, in demo mode, the trainer's panels around
it. The view never sees a token: its `context.client` adds and renews them.
"""

from __future__ import annotations

from textual.containers import Vertical

from connectors.base import ConnectorContext


class ConnectorView(Vertical):
    """Base class of every connector's screen (`Connector.screen` names a subclass)."""

    DEFAULT_CSS = """
    ConnectorView { height: 1fr; padding: 0 1; }
    """

    def __init__(self, context: ConnectorContext) -> None:
        super().__init__(id=f"view-{context.connector.name}")
        self.context = context
