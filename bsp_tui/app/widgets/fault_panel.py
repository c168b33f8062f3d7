"""The trainer's fault buttons: each shows the launcher coping with a real failure."""

from __future__ import annotations

import httpx
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Button, Select

from bsp_tui.app.faults import apply_fault
from bsp_tui.sso.errors import SsoError


class FaultPanel(Grid):
    """Expire the token, revoke the session, take a service down, slow the network, reset."""

    DEFAULT_CSS = """
    FaultPanel {
        height: auto; grid-size: 2; grid-gutter: 0 1; grid-rows: auto;
        border: round $warning; border-title-color: $warning; padding: 0 1;
    }
    FaultPanel Button { width: 1fr; min-width: 8; }
    FaultPanel Select { column-span: 2; }
    """

    def __init__(self) -> None:
        super().__init__(id="faults")
        self.border_title = "Pannes"

    def compose(self) -> ComposeResult:
        services = [(c.title, c.name) for c in self.app.connectors]  # type: ignore[attr-defined]
        yield Select(services, prompt="Service à couper", id="fault-service")
        yield Button("Expirer le jeton", id="fault-expire", compact=True)
        yield Button("Révoquer", id="fault-revoke", compact=True)
        yield Button("Couper / rétablir", id="fault-down", compact=True)
        yield Button("Ralentir le réseau", id="fault-slow", compact=True)
        yield Button("Réinitialiser", id="fault-reset", variant="primary", compact=True)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        action = (event.button.id or "").removeprefix("fault-")
        service = self.query_one("#fault-service", Select).value
        self.apply(action, service if isinstance(service, str) else None)

    @work(exclusive=True, group="fault", exit_on_error=False)
    async def apply(self, action: str, service: str | None) -> None:
        try:
            message = await apply_fault(self.app, action, service)
        except (SsoError, httpx.HTTPError) as error:
            self.app.notify(f"Panne non appliquée : {error}", severity="error")
            return
        self.app.notify(message)
        self.app.recheck()  # type: ignore[attr-defined]
