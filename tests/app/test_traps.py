"""Small traps a new clinician met: the store dialog's keys, the demo's persona picker
without a keyring, and sign-in flows no person can complete on the embedded platform.
"""

from __future__ import annotations

import os
import subprocess
import sys

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring
from textual.widgets import RadioButton, Select, Static

from bsp_tui.app.app import BspApp
from bsp_tui.app.screens.signin import SignInScreen
from bsp_tui.app.screens.store_choice import StoreChoiceScreen
from bsp_tui.sso.profile import EMBEDDED_CIBA_ONLY
from tests.app.conftest import (  # noqa: F401 - autouse fixtures of the launcher's tests
    app_environment,
    shared_keyring,
    wait_for,
)
from tests.app.test_journey import on_screen

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("key", ["escape", "q", "ctrl+q"])
async def test_the_store_dialog_quits_on_the_keys_its_footer_offers(key: str) -> None:
    keyring.set_keyring(FailKeyring())  # the autouse fixture restores the previous one
    app = BspApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: on_screen(app, StoreChoiceScreen), what="the store choice")
        await pilot.press(key)
        await wait_for(pilot, lambda: not app.is_running, what=f"bsp quit on {key}")
    assert app._session is None  # nothing was kept


async def test_the_demo_lists_its_personas_once_the_store_is_chosen() -> None:
    keyring.set_keyring(FailKeyring())
    app = BspApp(demo=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: on_screen(app, StoreChoiceScreen), what="the store choice")
        await pilot.click("#memory")
        await wait_for(pilot, lambda: on_screen(app, SignInScreen), what="the sign-in screen")
        picker = app.screen.query_one("#persona", Select)
        await wait_for(pilot, lambda: len(picker._options) > 3, what="the personas listed")
        labels = [str(prompt) for prompt, _ in picker._options]
        assert any("Médecin" in label for label in labels), labels


async def test_the_embedded_platform_offers_only_the_e_cps_notification() -> None:
    app = BspApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: on_screen(app, SignInScreen), what="the sign-in screen")
        offered = [button.id for button in app.screen.query(RadioButton)]
        assert offered == ["flow-ciba"]
        hint = str(app.screen.query_one("#flows-hint", Static).render())
        assert "seule la notification e-CPS" in hint


async def test_a_served_platform_offers_every_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSP_PLATFORM_URL", "http://127.0.0.1:9")  # never reached here
    app = BspApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SignInScreen), what="sign-in")
        offered = [button.id for button in app.screen.query(RadioButton)]
        assert offered == ["flow-ciba", "flow-device", "flow-browser"]
        assert not app.screen.query("#flows-hint")


@pytest.mark.parametrize("flow", ["device", "browser"])
def test_login_refuses_flows_no_person_can_complete_on_the_embedded_platform(flow: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bsp_tui", "login", "--flow", flow],
        env=os.environ | {"BSP_TOKEN_STORE": "memory"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert EMBEDDED_CIBA_ONLY in done.stderr
    assert "Traceback" not in done.stderr
