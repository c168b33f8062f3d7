"""The launcher driven with Textual's Pilot: the trainer's whole journey, the clinician's
sign-in outcomes, the dashboard's states, the demo faults, the idle lock, the patient
context, the store choice and the theme.

Every wait polls the interface with a deadline (`wait_for`); nothing sleeps.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring
from textual.command import CommandPalette
from textual.widgets import Digits, Input, OptionList, Select, Static

from bsp_tui.app import app as app_module
from bsp_tui.app.app import BspApp
from bsp_tui.app.prefs import Prefs
from bsp_tui.app.screens.connector import ConnectorScreen, UnavailableView
from bsp_tui.app.screens.dashboard import DashboardScreen
from bsp_tui.app.screens.lock import LockScreen
from bsp_tui.app.screens.signin import SignInScreen
from bsp_tui.app.screens.store_choice import StoreChoiceScreen
from bsp_tui.app.screens.waiting import WaitingScreen
from bsp_tui.app.widgets.phone_panel import PhonePanel
from bsp_tui.app.widgets.tile import ConnectorTile
from bsp_tui.config import read_config
from bsp_tui.domain.patients import PatientContext
from bsp_tui.launcher import virtual_phone
from connectors.base import registry
from tests.app.conftest import (
    FakeClock,
    approvals,
    count_requests,
    national_id_of,
    persona,
    pin_of,
    platform_database,
    sign_in_outside,
    wait_for,
)

pytestmark = pytest.mark.anyio

DEMO_SIZE = (120, 40)
PLAIN_SIZE = (80, 24)
TILES = ("ins", "dmp", "eprescription", "fse")


# -- helpers ------------------------------------------------------------------------------


def text_of(screen, selector: str) -> str:
    """The plain text a Static shows."""
    return str(screen.query_one(selector, Static).render())


def on_screen(app: BspApp, kind: type) -> bool:
    """The app shows a screen of that kind, fully mounted (its header included)."""
    return isinstance(app.screen, kind) and app.screen.is_mounted


def tile(app: BspApp, name: str) -> ConnectorTile:
    return app.screen.query_one(f"#tile-{name}", ConnectorTile)


def tiles_in(app: BspApp, *states: str) -> bool:
    return on_screen(app, DashboardScreen) and all(
        tile(app, name).state == state for name, state in zip(TILES, states, strict=True)
    )


def notifications(app: BspApp) -> list[tuple[str, str]]:
    """(severity, message) of every notification the app has shown."""
    return [(n.severity, n.message) for n in app._notifications]


def session_keys(keyring_path: Path) -> list[str]:
    """The entries the launcher keeps in the (test) keyring."""
    if not keyring_path.exists():
        return []
    return sorted(key for key in json.loads(keyring_path.read_text()) if key.startswith("bsp:"))


async def press_button(pilot, selector: str) -> None:
    """Focus a button of the current screen, then press Enter (the keyboard way)."""
    await focus(pilot, selector)
    button = pilot.app.screen.query_one(selector)
    # A button ignores presses during its 0.2 s press animation, as a person would see.
    await wait_for(pilot, lambda: not button.has_class("-active"), what=f"{selector} idle")
    await pilot.press("enter")


async def focus(pilot, selector: str) -> None:
    """Focus a widget of the current screen (focus moves on the next message loop)."""
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    await wait_for(pilot, lambda: widget.has_focus, what=f"focus on {selector}")


async def start_on_sign_in(pilot) -> SignInScreen:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: on_screen(app, SignInScreen) and app._session is not None,
        what="the sign-in screen with its session store open",
    )
    return app.screen


async def submit_national_id(pilot, national_id: str) -> WaitingScreen:
    """Type the id on the sign-in screen, press Enter, and wait for the binding number."""
    app = pilot.app
    await start_on_sign_in(pilot)
    await pilot.click("#national-id")
    await pilot.press(*national_id, "enter")
    await wait_for(
        pilot,
        lambda: on_screen(app, WaitingScreen) and app.screen.query_one("#binding", Digits).value,
        what="the waiting screen with a binding number",
    )
    return app.screen


async def approve_in_panel(pilot, name: str, binding: str) -> None:
    """On the demo phone panel of the current screen: check the number, type the PIN."""
    app = pilot.app
    panel = app.screen.query_one(PhonePanel)
    await wait_for(
        pilot,
        lambda: panel.request is not None and panel.query_one("#phone-pin").display,
        what="the push on the phone panel",
    )
    assert panel.query_one("#phone-binding", Digits).value == binding
    assert panel.request.binding == binding
    await focus(pilot, "#phone-pin")
    await pilot.press(*pin_of(name), "enter")


async def approve_from_test(app: BspApp, name: str, binding: str) -> None:
    """The professional approves on their phone (another device: not the launcher's UI)."""

    await virtual_phone(app.session.http).approve_binding(name, pin_of(name), binding)


# -- the trainer's whole journey ------------------------------------------------------------


async def test_trainer_journey_needs_one_approval_for_the_session(shared_keyring: Path) -> None:
    app = BspApp(demo=True)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        signin = await start_on_sign_in(pilot)
        national_id = national_id_of("generaliste")

        # The persona picker fills the national id.
        picker = signin.query_one("#persona", Select)
        await wait_for(
            pilot,
            lambda: national_id in picker._legal_values,
            what="the persona picker filled from the platform's directory",
        )
        picker.value = national_id
        await wait_for(pilot, lambda: signin.query_one("#national-id", Input).value == national_id)
        await wait_for(pilot, lambda: "✓" in text_of(signin, "#id-check"), what="the id checked")

        await focus(pilot, "#national-id")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                on_screen(app, WaitingScreen) and app.screen.query_one("#binding", Digits).value
            ),
            what="the waiting screen with a binding number",
        )
        waiting = app.screen
        binding = waiting.query_one("#binding", Digits).value
        assert len(binding) == 2 and binding.isdigit()
        assert "expire dans" in text_of(waiting, "#countdown")
        assert approvals() == 0

        # Same number on the phone panel; the PIN approves.
        await approve_in_panel(pilot, "generaliste", binding)
        await wait_for(pilot, lambda: on_screen(app, DashboardScreen), what="the dashboard")
        dashboard = app.screen
        assert approvals() == 1, "the sign-in takes exactly one e-CPS approval"
        assert app.session_facts["who"]["national_id"] == national_id
        await wait_for(
            pilot,
            lambda: tiles_in(app, "ready", "ready", "ready", "ready"),
            what="every tile ready for the généraliste",
        )

        # Every tile opens on the shared session: no new approval.
        connectors = {c.name: c for c in registry()}
        for number, name in enumerate(TILES, start=1):
            await pilot.press(str(number))
            await wait_for(
                pilot,
                lambda name=name: (
                    on_screen(app, ConnectorScreen) and app.screen.id == f"connector-{name}"
                ),
                what=f"the screen of tile {number}",
            )
            if connectors[name].screen:  # the connector has landed its own screen
                assert app.screen.query(connectors[name].load_screen())
            else:  # until then, the placeholder
                view = app.screen.query_one(UnavailableView)
                shown = " ".join(str(s.render()) for s in view.query(Static))
                assert "pas encore disponible" in shown
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is dashboard, what="back on the dashboard")
        # The "one approval for the whole session": opening the four tiles adds none.
        assert approvals() == 1

        # Lock: the dashboard stays underneath, as it was.
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: on_screen(app, LockScreen), what="the lock screen")
        assert dashboard in app.screen_stack

        # Unlock through the phone panel: back on the very same dashboard.
        await pilot.click("#unlock")
        await wait_for(
            pilot,
            lambda: (
                on_screen(app, WaitingScreen)
                and app.screen.relock
                and app.screen.query_one("#binding", Digits).value
            ),
            what="the unlock's waiting screen",
        )
        binding = app.screen.query_one("#binding", Digits).value
        await approve_in_panel(pilot, "generaliste", binding)
        await wait_for(pilot, lambda: app.screen is dashboard, what="the dashboard after unlock")
        assert not any(isinstance(s, LockScreen | WaitingScreen) for s in app.screen_stack)
        # By design the lock asks a new approval (the issue: "a lock ... that asks for a new
        # e-CPS approval"): that is the one approval added after sign-in.
        assert approvals() == 2
        await wait_for(
            pilot,
            lambda: any("déverrouillée" in message for _, message in notifications(app)),
            what="the unlock notification",
        )

        # Logout from anywhere: back to sign-in, the store wiped.
        assert session_keys(shared_keyring)
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: on_screen(app, SignInScreen), what="the sign-in screen")
        await wait_for(pilot, lambda: app.session_facts is None)
        assert app.session.store.get("session") is None
        assert app.session.store.get("access") is None
        assert session_keys(shared_keyring) == []
        assert approvals() == 2


async def test_a_second_app_on_the_same_store_opens_on_the_dashboard() -> None:
    first = BspApp()
    async with first.run_test(size=PLAIN_SIZE) as pilot:
        waiting = await submit_national_id(pilot, national_id_of("generaliste"))
        await approve_from_test(first, "generaliste", waiting.query_one("#binding", Digits).value)
        await wait_for(pilot, lambda: tiles_in(first, "ready", "ready", "ready", "ready"))
    assert approvals() == 1

    second = BspApp()
    async with second.run_test(size=PLAIN_SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: on_screen(second, DashboardScreen),
            what="the second app straight on the dashboard",
        )
        await wait_for(pilot, lambda: tiles_in(second, "ready", "ready", "ready", "ready"))
        assert second.session_facts["who"]["name"] == "Élise Martin-Dubois"
    assert approvals() == 1, "the second app must not ask for an approval"


# -- sign-in screen and outcomes ----------------------------------------------------------


async def test_the_national_id_key_is_checked_as_it_is_typed() -> None:
    valid = national_id_of("generaliste")
    wrong = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    app = BspApp()
    async with app.run_test(size=PLAIN_SIZE) as pilot:
        signin = await start_on_sign_in(pilot)
        await pilot.click("#national-id")
        await pilot.press(*wrong)
        await wait_for(pilot, lambda: "clé de contrôle" in text_of(signin, "#id-check"))
        assert signin.query_one("#id-check").has_class("error")

        await pilot.press("enter")
        await wait_for(pilot, lambda: "clé de contrôle" in text_of(signin, "#signin-error"))
        assert app.screen is signin, "a wrong key must not start a flow"
        assert count_requests() == 0

        await pilot.press("backspace", valid[-1])
        await wait_for(pilot, lambda: "✓" in text_of(signin, "#id-check"))
        assert not signin.query_one("#id-check").has_class("error")
        assert text_of(signin, "#id-check") == "✓ Identifiant valide"


async def test_a_structure_based_national_id_is_typed_whole() -> None:
    """A secretary without RPPS types 5 + SIRET + / + her id: the field takes the slash
    and the letters, and the check says the id is well formed."""
    app = BspApp()
    async with app.run_test(size=PLAIN_SIZE) as pilot:
        signin = await start_on_sign_in(pilot)
        await pilot.click("#national-id")
        await pilot.press(*"512345678901234")
        await wait_for(pilot, lambda: "5 + SIRET + /" in text_of(signin, "#id-check"))
        await pilot.press(*"/SEC01")
        await wait_for(pilot, lambda: "✓" in text_of(signin, "#id-check"))
        assert signin.query_one("#national-id", Input).value == "512345678901234/SEC01"


async def test_denied_on_the_phone_panel_says_so_and_cancel_goes_back() -> None:
    app = BspApp(demo=True)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await submit_national_id(pilot, national_id_of("generaliste"))
        waiting = app.screen
        panel = waiting.query_one(PhonePanel)
        await wait_for(pilot, lambda: panel.request is not None, what="the push on the panel")
        await press_button(pilot, "#phone-deny")
        await wait_for(pilot, lambda: "Connexion refusée" in text_of(waiting, "#outcome"))
        assert waiting.query_one("#retry").display
        assert text_of(waiting, "#countdown") == ""
        await press_button(pilot, "#cancel")
        await wait_for(pilot, lambda: on_screen(app, SignInScreen))
    assert approvals() == 0
    assert count_requests("denied") == 1


def start_other_sign_in(name: str, binding: str) -> str:
    """Another trainee signs in as the same professional (in process); its request id."""
    from bsp_tui.platform.core import Platform
    from bsp_tui.platform.settings import PlatformSettings
    from tests.conftest import LAUNCHER

    platform = Platform.open(PlatformSettings.from_env())
    try:
        national_id = platform.ecps.persona(name=name)["national_id"]
        platform.flows.start_ciba(
            platform.clients.get(LAUNCHER), "openid scope_all", national_id, binding, "eidas1", None
        )
        return platform.ecps.pending(national_id)[-1].id
    finally:
        platform.db.close()


def request_status(request_id: str) -> str:
    """Where an e-CPS request stands, read from the platform's database."""
    connection = sqlite3.connect(platform_database())
    try:
        return connection.execute(
            "SELECT status FROM ecps_requests WHERE id = ?", (request_id,)
        ).fetchone()[0]
    finally:
        connection.close()


async def test_the_phone_panel_lists_every_request_and_answers_the_chosen_number() -> None:
    app = BspApp(demo=True)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        # Another trainee asked first, as the same professional: the oldest request.
        signin = await start_on_sign_in(pilot)
        other = start_other_sign_in("generaliste", "99")
        # The sign-in screen's panel shows it (and takes the focus) before we type our id.
        await wait_for(pilot, lambda: signin.query_one(PhonePanel).request is not None)
        waiting = await submit_national_id(pilot, national_id_of("generaliste"))
        mine = waiting.query_one("#binding", Digits).value
        panel = waiting.query_one(PhonePanel)
        await wait_for(pilot, lambda: len(panel.requests) == 2, what="both requests on the panel")
        options = panel.query_one("#phone-requests", OptionList)
        assert options.display
        shown = [str(options.get_option_at_index(i).prompt) for i in range(2)]
        assert {line[:2] for line in shown} == {mine, "99"}
        assert all("Lanceur bsp" in line and "Élise Martin-Dubois" in line for line in shown)
        # Choose the other trainee's number with the keyboard, then come back to ours.
        await focus(pilot, "#phone-requests")
        target = next(i for i, r in enumerate(panel.requests) if r.binding == "99")
        await pilot.press("home", *["down"] * target)
        await wait_for(pilot, lambda: panel.request.binding == "99", what="99 chosen")
        assert panel.query_one("#phone-binding", Digits).value == "99"
        back = next(i for i, r in enumerate(panel.requests) if r.binding == mine)
        await pilot.press("home", *["down"] * back)
        await wait_for(pilot, lambda: panel.request.binding == mine, what="our number chosen")
        await pilot.press("enter")  # chosen: on to the PIN
        await wait_for(pilot, lambda: panel.query_one("#phone-pin").has_focus, what="PIN focus")
        await pilot.press(*pin_of("generaliste"), "enter")
        await wait_for(pilot, lambda: on_screen(app, DashboardScreen), what="our dashboard")
    assert approvals() == 1
    assert request_status(other) == "pending", "the other trainee's sign-in is not ours to answer"


async def test_an_empty_pin_on_the_phone_panel_is_refused_before_the_platform() -> None:
    app = BspApp(demo=True)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        waiting = await submit_national_id(pilot, national_id_of("generaliste"))
        panel = waiting.query_one(PhonePanel)
        await wait_for(pilot, lambda: panel.request is not None, what="the push on the panel")
        await focus(pilot, "#phone-pin")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: "Saisissez le code PIN" in text_of(waiting, "#phone-result"),
            what="the panel asking for the PIN",
        )
        assert persona("generaliste")["failures"] == 0, "an empty PIN is no wrong attempt"
        assert count_requests("pending") == 1
        await pilot.press(*pin_of("generaliste"), "enter")
        await wait_for(pilot, lambda: on_screen(app, DashboardScreen), what="the dashboard")
    assert approvals() == 1


async def test_five_wrong_pins_lock_the_ecps() -> None:
    app = BspApp(demo=True)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await submit_national_id(pilot, national_id_of("generaliste"))
        waiting = app.screen
        panel = waiting.query_one(PhonePanel)
        await wait_for(pilot, lambda: panel.request is not None, what="the push on the panel")
        wrong = "0000" if pin_of("generaliste") != "0000" else "1111"
        for attempt in range(1, 5):
            await focus(pilot, "#phone-pin")
            await pilot.press(*wrong, "enter")
            left = 5 - attempt
            await wait_for(
                pilot,
                lambda left=left: f"Il reste {left} essai" in text_of(waiting, "#phone-result"),
                what=f"the panel saying {left} tries are left",
            )
        await focus(pilot, "#phone-pin")
        await pilot.press(*wrong, "enter")
        await wait_for(
            pilot,
            lambda: "verrouillée" in text_of(waiting, "#outcome"),
            what="the locked-out message on the waiting screen",
        )
        assert waiting.query_one("#retry").display
        await pilot.press("escape")
        await wait_for(pilot, lambda: on_screen(app, SignInScreen))
    assert approvals() == 0


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_an_unreachable_platform_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSP_PLATFORM_URL", f"http://127.0.0.1:{closed_port()}")
    app = BspApp()
    async with app.run_test(size=PLAIN_SIZE) as pilot:
        signin = await start_on_sign_in(pilot)
        await pilot.click("#national-id")
        await pilot.press(*national_id_of("generaliste"), "enter")
        await wait_for(pilot, lambda: on_screen(app, WaitingScreen))
        waiting = app.screen
        await wait_for(
            pilot,
            lambda: "injoignable" in text_of(waiting, "#outcome"),
            what="the unreachable message",
        )
        assert waiting.query_one("#retry").display
        await press_button(pilot, "#cancel")
        await wait_for(pilot, lambda: app.screen is signin)


async def test_an_unanswered_request_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSP_ECPS_REQUEST_TTL", "2")
    app = BspApp()
    async with app.run_test(size=PLAIN_SIZE) as pilot:
        waiting = await submit_national_id(pilot, national_id_of("generaliste"))
        await wait_for(
            pilot,
            lambda: "expiré" in text_of(waiting, "#outcome"),
            timeout=15,
            what="the expiry message",
        )
        assert waiting.query_one("#binding", Digits).value
        await press_button(pilot, "#cancel")
        await wait_for(pilot, lambda: on_screen(app, SignInScreen))
    assert approvals() == 0


# -- the dashboard ------------------------------------------------------------------------------


async def test_the_secretary_sees_why_three_services_are_refused() -> None:
    await sign_in_outside("secretaire")
    refusals = {c.name: c.refusal for c in registry()}
    app = BspApp()
    async with app.run_test(size=PLAIN_SIZE) as pilot:
        await wait_for(pilot, lambda: on_screen(app, DashboardScreen))
        await wait_for(
            pilot,
            lambda: tiles_in(app, "ready", "refused", "refused", "refused"),
            what="INS ready, the three others refused",
        )
        for name in ("dmp", "eprescription", "fse"):
            assert refusals[name], f"{name} has no refusal text"
            assert tile(app, name).detail == refusals[name]
            assert tile(app, name).border_subtitle == "⊘ Non autorisé"
        assert tile(app, "ins").detail.startswith("Jeton valable jusqu'à")


# -- the trainer's faults --------------------------------------------------------------------


async def test_faults_show_the_launcher_coping() -> None:
    await sign_in_outside("generaliste")
    app = BspApp(demo=True)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_for(pilot, lambda: tiles_in(app, "ready", "ready", "ready", "ready"))
        screen = app.screen
        screen.query_one("#fault-service", Select).value = "dmp"

        # Take the DMP down: its tile turns red; again: green.
        await press_button(pilot, "#fault-down")
        await wait_for(pilot, lambda: tile(app, "dmp").state == "down", what="DMP down")
        assert tile(app, "ins").state == "ready"
        await press_button(pilot, "#fault-down")
        await wait_for(pilot, lambda: tile(app, "dmp").state == "ready", what="DMP back")

        # Down again, then the reset brings it back.
        await press_button(pilot, "#fault-down")
        await wait_for(pilot, lambda: tile(app, "dmp").state == "down")
        await press_button(pilot, "#fault-reset")
        await wait_for(pilot, lambda: tile(app, "dmp").state == "ready", what="reset")

        # Expire the token: renewed silently, the trace shows the refresh.
        trace = screen.query_one("#trace-list", OptionList)
        before = trace.option_count
        await press_button(pilot, "#fault-expire")

        def refreshed() -> bool:
            lines = [str(trace.get_option_at_index(i).prompt) for i in range(trace.option_count)]
            return any("rafraîchissement" in line for line in lines[before:])

        await wait_for(pilot, refreshed, what="a refresh in the SSO trace")
        await wait_for(pilot, lambda: tiles_in(app, "ready", "ready", "ready", "ready"))
        assert on_screen(app, DashboardScreen)

        # Revoke the session at PSC: back to sign-in, told to sign in again.
        await press_button(pilot, "#fault-revoke")
        await wait_for(pilot, lambda: on_screen(app, SignInScreen), what="back on sign-in")
        assert app.session_facts is None
        await wait_for(
            pilot,
            lambda: any(
                severity == "error" and "reconnect" in message
                for severity, message in notifications(app)
            ),
            what="an error notification telling to sign in again",
        )
    assert approvals() == 1


# -- idle lock ------------------------------------------------------------------------------------


async def test_the_app_locks_itself_when_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "IDLE_CHECK_EVERY", 0.1)
    checks = []
    original = BspApp.lock_if_idle

    def counted(self: BspApp) -> None:
        checks.append(self.clock())
        original(self)

    monkeypatch.setattr(BspApp, "lock_if_idle", counted)
    await sign_in_outside("generaliste")
    clock = FakeClock()
    app = BspApp(clock=clock, prefs=Prefs(lock_after=1))
    async with app.run_test(size=PLAIN_SIZE) as pilot:
        await wait_for(pilot, lambda: on_screen(app, DashboardScreen))
        dashboard = app.screen

        # Keys keep it awake: 0.6 s, a key, 0.6 s more (1.2 s since start, 0.6 s idle).
        clock.advance(0.6)
        await pilot.press("tab")
        clock.advance(0.6)
        seen = len(checks)
        await wait_for(pilot, lambda: len(checks) >= seen + 3, what="three idle checks")
        assert app.screen is dashboard, "a key press must reset the idle timer"

        # Then a full second without a key: locked, the dashboard kept below.
        clock.advance(0.5)
        await wait_for(pilot, lambda: on_screen(app, LockScreen), what="the idle lock")
        assert app.screen_stack[-2] is dashboard
    assert approvals() == 1


# -- patient context ----------------------------------------------------------------------------


async def test_the_patient_context_shows_in_the_header_and_one_key_clears_it() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=PLAIN_SIZE) as pilot:
        await wait_for(pilot, lambda: on_screen(app, DashboardScreen))
        app.set_patient(
            PatientContext(
                "255081416802538", "1.2.250.1.213.1.4.10", "DUPONT", "Marie", "F", "1955-08-14"
            )
        )
        await wait_for(pilot, lambda: "DUPONT" in app.sub_title)
        assert app.sub_title == "Patient : DUPONT Marie — INS 255081416802538"
        await pilot.press("delete")
        await wait_for(pilot, lambda: app.patient is None, what="the patient cleared")
        assert app.sub_title == BspApp.SUB_TITLE
        assert "Contexte patient effacé." in [m for _, m in notifications(app)]


# -- store choice and theme -------------------------------------------------------------------


async def test_without_a_secure_keyring_the_person_chooses_the_store() -> None:
    keyring.set_keyring(FailKeyring())  # the autouse fixture restores the previous one
    app = BspApp()
    async with app.run_test(size=PLAIN_SIZE) as pilot:
        await wait_for(pilot, lambda: on_screen(app, StoreChoiceScreen), what="the store choice")
        assert app._session is None
        await pilot.click("#memory")
        await wait_for(
            pilot,
            lambda: on_screen(app, SignInScreen) and app._session is not None,
            what="the sign-in screen on a memory store",
        )
        assert app.session.store.kind == "memory"
        assert app.session_facts is None
    # The choice is the profile's from now on: the next start asks nothing.
    assert read_config()["profiles"]["default"]["token_store"] == "memory"
    again = BspApp()
    async with again.run_test(size=PLAIN_SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: on_screen(again, SignInScreen) and again._session is not None,
            what="the sign-in screen on the remembered store",
        )
        assert again.session.store.kind == "memory"


async def test_the_chosen_theme_is_remembered() -> None:
    app = BspApp()
    async with app.run_test(size=PLAIN_SIZE) as pilot:
        await start_on_sign_in(pilot)
        assert app.theme == "bsp"
        # From the command palette...
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: on_screen(app, CommandPalette), what="the palette")
        await pilot.press(*"Thème : bsp-sombre")

        def first_hit() -> str:
            hits = app.screen.query_one(OptionList)
            return str(hits.get_option_at_index(0).prompt) if hits.option_count else ""

        await wait_for(pilot, lambda: "bsp-sombre" in first_hit(), what="the theme command")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.theme == "bsp-sombre", what="the dark theme")
        assert Prefs.load().theme == "bsp-sombre"
        # ...or from code.
        app.choose_theme("bsp-contraste")
        await pilot.pause()
        assert app.theme == "bsp-contraste"
    assert Prefs.load().theme == "bsp-contraste"
    again = BspApp()
    async with again.run_test(size=PLAIN_SIZE) as pilot:
        await start_on_sign_in(pilot)
        assert again.theme == "bsp-contraste"
