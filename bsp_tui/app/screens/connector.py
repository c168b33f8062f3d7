"""Hosts a connector's view inside the launcher's frame; a placeholder until it has one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from bsp_tui.app.screens.base import BspScreen
from connectors.base import ConnectorContext
from connectors.view import ConnectorView


class UnavailableView(ConnectorView):
    """What a tile opens while its connector has no screen yet."""

    def compose(self) -> ComposeResult:
        connector = self.context.connector
        yield Static(connector.title, classes="title")
        yield Static(connector.description)
        yield Static(
            "Ce service n'est pas encore disponible dans bsp. "
            "Échap pour revenir au tableau de bord.",
            classes="hint",
        )


class ConnectorScreen(BspScreen):
    """One connector, with the session bar, the patient context and the demo panels."""

    BINDINGS = [Binding("escape", "back", "Tableau de bord", id="back")]

    def __init__(self, context: ConnectorContext) -> None:
        super().__init__(id=f"connector-{context.connector.name}")
        self.context = context

    def compose_body(self) -> ComposeResult:
        view = self.context.connector.load_screen() or UnavailableView
        yield view(self.context)

    def action_back(self) -> None:
        self.dismiss()

    async def on_unmount(self) -> None:
        await self.context.client.aclose()
