"""A connector's tile on the dashboard: its name, what it does, and its state."""

from __future__ import annotations

from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from connectors.base import Connector
from connectors.view import literal

STATES = {
    "checking": "… vérification",
    "ready": "● Prêt",
    "refused": "⊘ Non autorisé",
    "down": "▲ Service injoignable",
    "error": "▲ Erreur",
}


class ConnectorTile(Static, can_focus=True):
    """Focusable; Enter or a click opens the connector."""

    DEFAULT_CSS = """
    ConnectorTile {
        border: round $foreground 40%; border-title-color: $foreground;
        padding: 0 1; height: 1fr; width: 1fr;
    }
    ConnectorTile:focus { border: heavy $primary; border-title-color: $primary; }
    ConnectorTile.-ready { border-subtitle-color: $success; }
    ConnectorTile.-refused { border-subtitle-color: $warning; }
    ConnectorTile.-down, ConnectorTile.-error { border-subtitle-color: $error; }
    """
    BINDINGS = [Binding("enter", "open", "Ouvrir", id="open-tile")]

    state: reactive[str] = reactive("checking")
    detail: reactive[str] = reactive("")

    class Open(Message):
        """The person asked to open this tile's connector."""

        def __init__(self, connector: Connector) -> None:
            super().__init__()
            self.connector = connector

    def __init__(self, connector: Connector, shortcut: int) -> None:
        super().__init__(id=f"tile-{connector.name}")
        self.connector = connector
        self.border_title = f"{shortcut} · {connector.title}"

    def render(self) -> Content:
        # The detail may quote the platform: shown literally, never read as markup.
        return literal(f"{self.connector.description}\n\n{self.detail}")

    def watch_state(self, state: str) -> None:
        for name in STATES:
            self.set_class(name == state, f"-{name}")
        self.border_subtitle = STATES[state]

    def show(self, state: str, detail: str = "") -> None:
        """Set the tile's state and its explanation."""
        self.state = state
        self.detail = detail

    def action_open(self) -> None:
        self.post_message(self.Open(self.connector))

    def on_click(self) -> None:
        self.action_open()
