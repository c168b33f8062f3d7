"""Once signed in, the launcher's long-lived objects are out of Python's full collections."""

from __future__ import annotations

import gc

import pytest

from bsp_tui.app.app import BspApp
from bsp_tui.app.heap import freeze_long_lived
from bsp_tui.app.screens.dashboard import DashboardScreen
from tests.app.conftest import sign_in_outside, wait_for
from tests.app.test_journey import TILES, on_screen, tile

pytestmark = pytest.mark.anyio


async def test_the_dashboard_once_painted_freezes_what_lives_as_long_as_the_launcher() -> None:
    await sign_in_outside("generaliste")
    freeze_long_lived.cache_clear()  # once per process: another test's launcher may have
    frozen = gc.get_freeze_count()
    app = BspApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: on_screen(app, DashboardScreen), what="the dashboard")
        await wait_for(pilot, lambda: gc.get_freeze_count() > frozen, what="objects frozen")
        # Settled before leaving: every tile checked.
        await wait_for(pilot, lambda: all(tile(app, name).state == "ready" for name in TILES))
