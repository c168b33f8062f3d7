"""The INS screen driven with Textual's Pilot on the signed-in launcher (tile 1), and a
snapshot of its answer on fixed data. Every wait polls with a deadline; nothing sleeps.
"""

from __future__ import annotations

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from bsp_tui.app.app import BspApp
from connectors.ins.screen import NOT_FOUND, SEVERAL_FOUND, InsView
from tests.app.conftest import (  # noqa: F401 - autouse fixtures of the launcher's tests
    app_environment,
    shared_keyring,
    sign_in_outside,
    wait_for,
)
from tests.app.test_journey import focus, press_button
from tests.connectors.screens import (
    SIZE,
    HostApp,
    fake_context,
    fill_traits,
    open_tile,
    still_cursors,
)

pytestmark = pytest.mark.anyio


def shown(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_a_found_identity_becomes_the_patient() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tile(pilot, 1, "ins")
        view = screen.query_one(InsView)
        fill_traits(view, "DUPONT", "Marie", "F", "1962-03-14")
        # Keyboard only: Enter in the date field searches, Enter again chooses her.
        await focus(pilot, "#ins-birthdate")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: view.query_one("#ins-result").has_class("-shown"), what="the 00 answer"
        )
        assert "00" in shown(view, "#ins-outcome")
        assert "DUPONT" in shown(view, "#ins-identity")
        assert app.patient is None
        await wait_for(pilot, lambda: view.query_one("#ins-choose").has_focus, what="the choice")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.patient is not None, what="the patient chosen")
        assert app.patient.family == "DUPONT"
        assert app.patient.sex == "F" and app.patient.birthdate == "1962-03-14"
        assert app.patient.oid and len(app.patient.ins) == 15
        assert app.sub_title.startswith("Patient : DUPONT MARIE")
        assert app.patient.ins in app.sub_title


async def test_several_identities_ask_for_more_and_bad_input_sends_nothing() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tile(pilot, 1, "ins")
        view = screen.query_one(InsView)

        # A malformed date: the reason next to the field, no request.
        fill_traits(view, "DUPONT", "Marie", "F", "14/03/1962")
        await press_button(pilot, "#ins-search")
        await wait_for(
            pilot,
            lambda: "AAAA-MM-JJ" in shown(view, "#ins-birthdate-error"),
            what="the date's error next to it",
        )
        assert view.requests == 0
        assert view.query_one("#ins-birthdate", Input).has_focus

        # MARTIN Jean: several identities; the form stays filled, the birthplace focused.
        fill_traits(view, "MARTIN", "Jean", "M", "1980-05-12")
        await press_button(pilot, "#ins-search")
        await wait_for(
            pilot,
            lambda: SEVERAL_FOUND in shown(view, "#ins-outcome"),
            what="the 02 message",
        )
        assert shown(view, "#ins-birthdate-error") == ""
        await wait_for(pilot, lambda: view.query_one("#ins-birthplace", Input).has_focus)
        assert view.query_one("#ins-family", Input).value == "MARTIN"
        assert view.query_one("#ins-birthdate", Input).value == "1980-05-12"
        assert not view.query_one("#ins-result").has_class("-shown")
        assert view.requests == 1

        # Nobody: 01.
        fill_traits(view, "INCONNU", "Personne", "M", "1901-01-01")
        await press_button(pilot, "#ins-search")
        await wait_for(pilot, lambda: NOT_FOUND in shown(view, "#ins-outcome"), what="01")


# -- a short terminal -------------------------------------------------------------------------


def controls(view: InsView) -> list:
    """The form's inputs, list and buttons: the first, a middle one and the last."""
    found = list(view.query("Input, Select, Button"))
    return [found[0], found[len(found) // 2], found[-1]]


async def test_the_form_is_compact_from_the_start_at_80x24_and_a_resize_decides_again() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=(80, 24)) as pilot:
        # Decided as the view is made, before it is ever styled.
        assert InsView(fake_context("ins")).has_class("-compact")
        screen = await open_tile(pilot, 1, "ins")
        view = screen.query_one(InsView)
        assert view.has_class("-compact")
        assert [control.compact for control in controls(view)] == [True, True, True]
        await wait_for(pilot, lambda: view.query_one("#ins-family").has_focus, what="the name")
        assert not view.query_one("#ins-scroll").has_focus

        await pilot.resize_terminal(120, 40)
        await wait_for(pilot, lambda: not view.has_class("-compact"), what="the borders back")
        assert [control.compact for control in controls(view)] == [False, False, False]
        assert view.query_one("#ins-family").has_focus

        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: view.has_class("-compact"), what="compact again")
        assert [control.compact for control in controls(view)] == [True, True, True]


async def test_a_tall_terminal_has_the_form_bordered() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        assert not InsView(fake_context("ins")).has_class("-compact")
        view = (await open_tile(pilot, 1, "ins")).query_one(InsView)
        assert not view.has_class("-compact")
        assert [control.compact for control in controls(view)] == [False, False, False]
        await wait_for(pilot, lambda: view.query_one("#ins-family").has_focus, what="the name")


# -- snapshot ---------------------------------------------------------------------------------

DUPONT = {
    "ins": "262037511100190",
    "oid": "1.2.250.1.213.1.4.10",
    "family": "DUPONT",
    "given": "MARIE LOUISE",
    "sex": "F",
    "birthdate": "1962-03-14",
    "birthplace": "75111",
}


def insi(request: httpx.Request) -> httpx.Response:
    """The fixed answer of the snapshot: one identity."""
    return httpx.Response(200, json={"code": "00", "identities": [DUPONT]})


def test_ins_screen_snapshot(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        view = pilot.app.query_one(InsView)
        fill_traits(view, "Dupont", "Marie", "F", "1962-03-14")
        view.search()
        await wait_for(pilot, lambda: view.query_one("#ins-result").has_class("-shown"))
        view.query_one("#ins-choose").focus()
        still_cursors(pilot.app)
        await pilot.pause()

    app = HostApp(InsView, fake_context("ins", insi))
    assert snap_compare(app, terminal_size=(100, 32), run_before=run_before)
