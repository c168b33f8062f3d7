"""The dashboard: one tile per connector of the registry, each with its live state."""

from __future__ import annotations

import httpx
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid

from bsp_tui.app.format import clock_time
from bsp_tui.app.heap import freeze_long_lived
from bsp_tui.app.screens.base import BspScreen
from bsp_tui.app.widgets.tile import ConnectorTile
from bsp_tui.sso.errors import NoSessionError, SsoError
from connectors.base import Connector

RECHECK_SECONDS = 30


def _diagnostics(response: httpx.Response) -> str:
    try:
        return response.json()["issue"][0]["diagnostics"]
    except (ValueError, KeyError, IndexError, TypeError):
        return f"Réponse {response.status_code}."


class DashboardScreen(BspScreen):
    """Every service on one screen; digits open a tile."""

    BINDINGS = [
        Binding(str(n), f"open_tile({n})", f"Service {n}", show=False, id=f"open-tile-{n}")
        for n in range(1, 10)
    ] + [Binding("f5", "recheck", "Actualiser", id="recheck")]

    def compose_body(self) -> ComposeResult:
        with Grid(id="tiles"):
            for number, connector in enumerate(self.app.connectors, start=1):  # type: ignore[attr-defined]
                yield ConnectorTile(connector, number)

    def on_mount(self) -> None:
        tiles = list(self.query(ConnectorTile))
        if tiles:
            tiles[0].focus()
        self.action_recheck()
        self.set_interval(RECHECK_SECONDS, self.action_recheck)
        self.call_after_refresh(freeze_long_lived)  # once the dashboard is painted

    def action_recheck(self) -> None:
        """Check every tile again (token, service)."""
        for tile in self.query(ConnectorTile):
            self.check(tile)

    def action_open_tile(self, number: int) -> None:
        tiles = list(self.query(ConnectorTile))
        if 1 <= number <= len(tiles):
            tiles[number - 1].action_open()

    @on(ConnectorTile.Open)
    def open_connector(self, event: ConnectorTile.Open) -> None:
        self.app.open_connector(event.connector)  # type: ignore[attr-defined]

    @work(exit_on_error=False, group="tiles")
    async def check(self, tile: ConnectorTile) -> None:
        """Can this professional use it, is there a token, does the service answer."""
        connector: Connector = tile.connector
        who = self.app.session_facts["who"]  # type: ignore[attr-defined]
        if not connector.allows(who.get("profession_code", "")):
            tile.show("refused", connector.refusal)
            return
        session = self.app.session  # type: ignore[attr-defined]
        try:
            await session.connector_token(connector.audience)
            async with session.client_for(connector.audience, connector.base_url) as client:
                response = await client.get("/me")
        except NoSessionError as error:
            self.app.session_lost(error)  # type: ignore[attr-defined]
            return
        except SsoError as error:
            tile.show("error", error.message)
            return
        except httpx.TransportError:
            tile.show("down", "La plateforme ne répond pas.")
            return
        if response.status_code == 200:
            record = session.store.get(f"api:{connector.audience}") or {}
            until = clock_time(record.get("expires_at", 0))
            tile.show("ready", f"Jeton valable jusqu'à {until}")
        elif response.status_code in (502, 503, 504):
            tile.show("down", _diagnostics(response))
        else:
            tile.show("error", _diagnostics(response))
