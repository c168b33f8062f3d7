"""The footer of the launcher's screens: its keys follow the bindings, and it is rebuilt
only when they change (driven with the Pilot on the signed-in launcher, tile 1).
"""

from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey

from bsp_tui.app.app import BspApp
from bsp_tui.app.widgets.footer import KeysFooter
from tests.app.conftest import sign_in_outside, wait_for
from tests.app.test_journey import focus
from tests.connectors.screens import open_tile

pytestmark = pytest.mark.anyio


def keys(footer: KeysFooter) -> list[FooterKey]:
    return list(footer.query(FooterKey))


async def test_the_footer_follows_the_focus_and_keeps_its_keys_when_they_stay_the_same() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_tile(pilot, 1, "ins")
        footer = screen.query_one(KeysFooter)

        def descriptions() -> list[str]:
            return [key.description for key in keys(footer)]

        # A field has the focus: its own Ctrl+D and Suppr hide the launcher's.
        await wait_for(pilot, lambda: "Tableau de bord" in descriptions(), what="the keys")
        assert descriptions()[0] == "Tableau de bord" and descriptions()[-1] == "palette"
        assert "Déconnexion" not in descriptions()
        shown = keys(footer)

        # Another field: the same keys, not made again.
        await focus(pilot, "#ins-given")
        await pilot.pause()
        assert keys(footer) == shown
        assert all(key.is_attached for key in shown)

        # A button: the launcher's keys are back.
        await focus(pilot, "#ins-search")
        await wait_for(pilot, lambda: "Déconnexion" in descriptions(), what="Déconnexion")
        assert "Effacer le patient" in descriptions()
        assert descriptions()[0] == "Tableau de bord" and descriptions()[-1] == "palette"
        assert not any(key.is_attached for key in shown)
