"""The interface writes its start to bsp.log once its first screen is up."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from bsp_tui.app.app import BspApp
from bsp_tui.app.screens.signin import SignInScreen
from tests.app.conftest import wait_for

pytestmark = pytest.mark.anyio


async def test_the_interface_logs_its_start() -> None:
    log = Path(os.environ["BSP_HOME"]) / "logs" / "bsp.log"
    app = BspApp()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SignInScreen), what="sign-in")
            await wait_for(
                pilot,
                lambda: log.exists() and "Interface démarrée." in log.read_text("utf-8"),
                what="the start in bsp.log",
            )
    finally:
        for handler in logging.getLogger("bsp").handlers[:]:
            logging.getLogger("bsp").removeHandler(handler)
            handler.close()
