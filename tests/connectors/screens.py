"""Helpers for the Pilot tests of connector screens: signed-in launcher steps, and a
small host app that mounts one view on a fake context (for snapshots and big tables).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Select

from bsp_tui.app.app import BspApp
from bsp_tui.app.screens.connector import ConnectorScreen
from bsp_tui.app.screens.dashboard import DashboardScreen
from bsp_tui.domain.patients import Identity, PatientContext
from connectors.base import ConnectorContext, connector_named
from connectors.kit.identities import IdentityStore
from tests.app.conftest import wait_for
from tests.app.test_journey import on_screen, tile

SIZE = (120, 40)


async def open_tile(pilot: Pilot, number: int, name: str) -> ConnectorScreen:
    """From the dashboard, open a tile by its number once it is ready."""
    app: BspApp = pilot.app  # type: ignore[assignment]
    await wait_for(pilot, lambda: on_screen(app, DashboardScreen), what="the dashboard")
    await wait_for(pilot, lambda: tile(app, name).state == "ready", what=f"tile {name} ready")
    await pilot.press(str(number))
    await wait_for(
        pilot,
        lambda: on_screen(app, ConnectorScreen) and app.screen.id == f"connector-{name}",
        what=f"the screen of tile {number}",
    )
    return app.screen  # type: ignore[return-value]


async def back_to_dashboard(pilot: Pilot) -> None:
    await pilot.press("escape")
    await wait_for(pilot, lambda: on_screen(pilot.app, DashboardScreen), what="the dashboard")


def fill_traits(
    screen, family: str, given: str, sex: str, birthdate: str, birthplace: str = ""
) -> None:
    """Type the traits in the INS form (values set as a paste would)."""
    screen.query_one("#ins-family", Input).value = family
    screen.query_one("#ins-given", Input).value = given
    screen.query_one("#ins-sex", Select).value = sex
    screen.query_one("#ins-birthdate", Input).value = birthdate
    screen.query_one("#ins-birthplace", Input).value = birthplace


def fake_context(
    name: str,
    handler: Callable[[httpx.Request], httpx.Response] | None = None,
    patient: PatientContext | None = None,
) -> ConnectorContext:
    """A context whose client answers with `handler` (fixed data) and a patient slot."""
    connector = connector_named(name)
    assert connector is not None
    state = {"patient": patient}
    client = None
    if handler is not None:
        client = httpx.AsyncClient(
            base_url=f"http://plateforme.bsp/api/{name}", transport=httpx.MockTransport(handler)
        )

    def set_patient(value: PatientContext | None) -> None:
        state["patient"] = value

    return ConnectorContext(
        connector=connector,
        client=client,
        who={},
        get_patient=lambda: state["patient"],
        set_patient=set_patient,
    )


class HostApp(App):
    """One connector view on its own, on a fake context."""

    def __init__(self, view: type, context: ConnectorContext) -> None:
        super().__init__()
        self.view_class = view
        self.context = context

    def compose(self) -> ComposeResult:
        yield self.view_class(self.context)


def still_cursors(app: App) -> None:
    for field in app.screen.query(Input):
        field.cursor_blink = False


def qualified_here(patient: PatientContext) -> None:
    """Record the patient's identity as qualified in this test's identity store (under
    its BSP_HOME), as the INS screen's lookup and « Pièce vérifiée » do."""
    store = IdentityStore.of_profile()
    try:
        identity = Identity(
            patient.ins,
            patient.oid,
            patient.family,
            patient.given,
            patient.sex,
            patient.birthdate,
            patient.birthplace,
        )
        store.retrieved(identity, "Test (INSi)")
        store.validated(patient.ins, "cni", "Test (pièce vérifiée)")
    finally:
        store.close()
