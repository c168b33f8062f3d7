"""Hosts a connector's view inside the launcher's frame; a placeholder until it has one."""

from __future__ import annotations

from typing import ClassVar

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
    # The view focuses its own first field once mounted (a `focus()` queued on the app).
    # Textual's auto focus, run before that, would first focus the view's first focusable
    # (often its scroll container) and then blur it: two restyles of the whole view.
    AUTO_FOCUS: ClassVar[str | None] = ""

    def __init__(self, context: ConnectorContext) -> None:
        super().__init__(id=f"connector-{context.connector.name}")
        self.context = context

    def compose_body(self) -> ComposeResult:
        view = self.context.connector.load_screen() or UnavailableView
        yield view(self.context)

    def on_mount(self) -> None:
        self.app.call_later(self.focus_default)  # queued after the view's own focus()

    def focus_default(self) -> None:
        """Textual's auto focus, for a view that focused nothing, and from now on."""
        self.AUTO_FOCUS = None  # type: ignore[misc]  # this screen's, not the class's
        self._update_auto_focus()

    def action_back(self) -> None:
        self.dismiss()

    async def on_unmount(self) -> None:
        await self.context.client.aclose()
