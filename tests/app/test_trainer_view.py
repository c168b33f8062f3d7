"""`bsp --demo` against a served platform: the trainer token, or the trainee's view.

The platform is a real `bsp platform serve` subprocess on loopback.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from textual.widgets import Input

from bsp_tui.app.app import BspApp
from bsp_tui.app.screens.signin import SignInScreen
from bsp_tui.app.screens.trainer_token import TrainerTokenScreen
from bsp_tui.app.widgets.fault_panel import FaultPanel
from bsp_tui.app.widgets.phone_panel import PhonePanel
from bsp_tui.app.widgets.trace_panel import TracePanel
from tests.app.conftest import wait_for
from tests.app.test_journey import DEMO_SIZE, press_button
from tests.e2e import conftest as e2e
from tests.e2e.conftest import ServedPlatform

served = e2e.served  # the e2e tests' served platform, one for this module

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def on_served(served: ServedPlatform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BSP_PLATFORM_URL", served.url)
    monkeypatch.setenv("BSP_TOKEN_STORE", "memory")
    monkeypatch.delenv("BSP_TRAINER_TOKEN", raising=False)


def faults_of(served: ServedPlatform) -> dict:
    return httpx.get(f"{served.url}/demo/faults", headers=served.trainer).json()


async def test_without_the_token_the_demo_shows_the_trainee_view(
    served: ServedPlatform, on_served: None
) -> None:
    app = BspApp(demo=True)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainerTokenScreen))
        await press_button(pilot, "#trainee")
        await wait_for(pilot, lambda: isinstance(app.screen, SignInScreen))
        screen = app.screen
        assert screen.query(PhonePanel) and screen.query(TracePanel)
        assert not screen.query(FaultPanel)
        assert not app.trainer_view
        # This home's phone has no device on that platform: the panel says how to enrol.
        await wait_for(
            pilot,
            lambda: "n'est pas enrôlé" in str(screen.query_one("#phone-status").render()),
            what="the panel saying the phone is not enrolled",
        )


async def test_the_trainer_types_the_token_and_gets_the_fault_buttons(
    served: ServedPlatform, on_served: None
) -> None:
    app = BspApp(demo=True)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainerTokenScreen))
        # A wrong token: refused by the platform, the trainee view stays.
        app.screen.query_one("#trainer-token-input", Input).value = "mauvais"
        await press_button(pilot, "#trainer")
        await wait_for(
            pilot,
            lambda: any("refusé" in n.message for n in app._notifications),
            what="the refusal of a wrong token",
        )
        assert not app.screen.query(FaultPanel)
        app.trainer_token_given(served.trainer_token)
        await wait_for(pilot, lambda: app.screen.query(FaultPanel), what="the fault panel")
        await press_button(pilot, "#fault-slow")
        await wait_for(pilot, lambda: faults_of(served)["latency_ms"] > 0, what="the latency")
        await press_button(pilot, "#fault-reset")
        await wait_for(pilot, lambda: faults_of(served)["latency_ms"] == 0, what="no fault")


async def test_with_bsp_trainer_token_the_demo_asks_nothing(
    served: ServedPlatform, on_served: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BSP_TRAINER_TOKEN", served.trainer_token)
    app = BspApp(demo=True)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.query(FaultPanel)
        )
        assert not any(isinstance(s, TrainerTokenScreen) for s in app.screen_stack)
