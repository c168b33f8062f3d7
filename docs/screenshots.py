"""Regenerate the SVG screenshots of docs/img/ (run `make docs`, or this file directly).

Each screenshot is taken with Textual's Pilot on the embedded platform, in a throw-away
BSP_HOME with the session in memory. The app's clock is held still while a screen is
photographed, so countdowns and the session bar read the same from one run to the
next; what still changes is the 2-digit binding number, the time of day in the tiles
and the SSO trace. No screenshot may show a PIN: the script checks every file.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

IMG = Path(__file__).resolve().parent / "img"
SIZE = (80, 24)
DEMO_SIZE = (120, 40)
CONNECTOR_SIZE = (100, 34)
CONTRAST = "bsp-contraste"

# Before anything reads the environment: an empty home, the session in memory, a quick
# CIBA pace, and none of the idle-lock or secret settings of the developer's shell.
os.environ["BSP_HOME"] = tempfile.mkdtemp(prefix="bsp-docs-")
os.environ["BSP_TOKEN_STORE"] = "memory"  # noqa: S105 - a store kind, not a secret
os.environ["BSP_POLL_INTERVAL"] = "1"
for _name in ("BSP_PROFILE", "BSP_PLATFORM_URL", "BSP_LOCK_AFTER", "BSP_CLIENT_SECRET"):
    os.environ.pop(_name, None)

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import DataTable, Digits, Input, Select  # noqa: E402

from bsp_tui.app.app import BspApp  # noqa: E402
from bsp_tui.app.screens.dashboard import DashboardScreen  # noqa: E402
from bsp_tui.app.screens.lock import LockScreen  # noqa: E402
from bsp_tui.app.screens.signin import SignInScreen  # noqa: E402
from bsp_tui.app.screens.waiting import WaitingScreen  # noqa: E402
from bsp_tui.app.widgets.session_bar import SessionBar  # noqa: E402
from bsp_tui.app.widgets.tile import ConnectorTile  # noqa: E402
from bsp_tui.launcher import virtual_phone  # noqa: E402
from bsp_tui.platform.core import Platform  # noqa: E402
from bsp_tui.platform.settings import PlatformSettings  # noqa: E402
from themes import DEFAULT_THEME  # noqa: E402


class StillClock:
    """The app's clock: it moves only when the script says so."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def persona(name: str) -> dict:
    """A demo professional, PIN included, from the embedded platform's database."""
    platform = Platform.open(PlatformSettings.from_env())
    try:
        row = platform.ecps.persona(name=name)
        return {key: row[key] for key in row.keys()}  # noqa: SIM118 - sqlite3.Row
    finally:
        platform.db.close()


async def until(pilot: Pilot, condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Let the app run until `condition()` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # a widget not mounted yet: keep waiting
            value = None
        if value:
            return value
        await pilot.pause(0.05)
    screen = pilot.app.screen
    said = " ".join(str(w.render()) for w in screen.query(".error, .title")) or "nothing"
    raise TimeoutError(f"never got there: {what} ({type(screen).__name__} says: {said})")


class Shooter:
    """Saves screenshots and checks that none of them shows a PIN."""

    def __init__(self) -> None:
        self.pins: set[str] = set()
        self.saved: list[Path] = []

    async def shoot(self, pilot: Pilot, name: str) -> None:
        app = pilot.app
        app.clear_notifications()
        for bar in app.screen.query(SessionBar):
            bar.update_facts()
        await pilot.pause()
        path = Path(app.save_screenshot(filename=f"{name}.svg", path=str(IMG)))
        text = path.read_text(encoding="utf-8")
        for pin in self.pins:
            if re.search(rf"(?<!\d){pin}(?!\d)", text):
                path.unlink()
                raise RuntimeError(f"{path.name} would show a PIN: not saved")
        self.saved.append(path)
        print(f"  {path.relative_to(IMG.parent.parent)}")


async def tiles_checked(pilot: Pilot) -> None:
    await until(
        pilot,
        lambda: (
            isinstance(pilot.app.screen, DashboardScreen)
            and all(t.state != "checking" for t in pilot.app.screen.query(ConnectorTile))
        ),
        "the dashboard with every tile checked",
    )


def hold_clock_at_sign_in(app: BspApp, clock: StillClock) -> None:
    """Put the still clock at the moment the tokens were issued: the bar shows full times."""
    access = app.session.store.get("access") or {}
    if access:
        clock.now = access["expires_at"] - access["lifetime"] - 0.5


async def type_national_id(pilot: Pilot, national_id: str) -> None:
    await until(pilot, lambda: isinstance(pilot.app.screen, SignInScreen), "the sign-in screen")
    field = pilot.app.screen.query_one("#national-id", Input)
    field.value = ""
    field.focus()
    await pilot.press(*national_id)


async def sign_in_with_phone(
    pilot: Pilot, shooter: Shooter, clock: StillClock, name: str, shot: str | None = None
) -> None:
    """Sign in (CIBA) and answer on the virtual phone, as the e-CPS app would."""
    app = pilot.app
    who = persona(name)
    shooter.pins.add(who["pin"])
    await type_national_id(pilot, who["national_id"])
    await pilot.press("enter")
    binding = await until(
        pilot,
        lambda: (
            isinstance(app.screen, WaitingScreen) and app.screen.query_one("#binding", Digits).value
        ),
        "the binding number",
    )
    if shot:
        await shooter.shoot(pilot, shot)
    await virtual_phone(app.session.http).approve_binding(name, who["pin"], binding)
    await tiles_checked(pilot)
    hold_clock_at_sign_in(app, clock)


async def log_out(pilot: Pilot) -> None:
    await pilot.press("ctrl+d")
    await until(
        pilot,
        lambda: isinstance(pilot.app.screen, SignInScreen) and pilot.app.session_facts is None,
        "the sign-in screen after logout",
    )


async def clinician(shooter: Shooter) -> None:
    """The launcher as clinicians see it, default and high-contrast themes, with a
    patient's journey through the connectors and the pharmacist's dispensing."""
    clock = StillClock()
    app = BspApp(clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        generaliste = persona("generaliste")
        await type_national_id(pilot, generaliste["national_id"])
        await shooter.shoot(pilot, "signin")
        await sign_in_with_phone(pilot, shooter, clock, "generaliste", shot="waiting")
        await shooter.shoot(pilot, "dashboard")
        number = await patient_journey(pilot, shooter)

        await pilot.press("ctrl+l")
        await until(pilot, lambda: isinstance(app.screen, LockScreen), "the lock screen")
        await shooter.shoot(pilot, "lock")
        await log_out(pilot)

        app.theme = CONTRAST
        await type_national_id(pilot, generaliste["national_id"])
        await shooter.shoot(pilot, "signin-contraste")
        await sign_in_with_phone(pilot, shooter, clock, "generaliste")
        await shooter.shoot(pilot, "dashboard-contraste")
        await log_out(pilot)

        app.theme = DEFAULT_THEME
        await sign_in_with_phone(pilot, shooter, clock, "secretaire")
        await shooter.shoot(pilot, "dashboard-secretaire")
        await log_out(pilot)

        await sign_in_with_phone(pilot, shooter, clock, "pharmacien")
        await dispense(pilot, shooter, number)
        await log_out(pilot)


async def open_tile(pilot: Pilot, name: str) -> Any:
    """From the dashboard, open a connector's tile; its view once it has mounted."""
    app = pilot.app
    await until(
        pilot,
        lambda: (
            isinstance(app.screen, DashboardScreen)
            and app.screen.query_one(f"#tile-{name}", ConnectorTile).state == "ready"
        ),
        f"the {name} tile ready",
    )
    app.screen.query_one(f"#tile-{name}", ConnectorTile).focus()
    await pilot.press("enter")
    return await until(pilot, lambda: app.screen.query_one(f"#view-{name}"), f"the {name} view")


async def back_to_dashboard(pilot: Pilot) -> None:
    await pilot.press("escape")
    await until(pilot, lambda: isinstance(pilot.app.screen, DashboardScreen), "the dashboard")


async def patient_journey(pilot: Pilot, shooter: Shooter) -> str:
    """A patient, connector by connector: INS, DMP, a prescription, a care sheet.

    Taken on the signed-in doctor's launcher, in a larger terminal; the prescription's
    number is returned for the pharmacist.
    """
    app = pilot.app
    await pilot.resize_terminal(*CONNECTOR_SIZE)
    view = await open_tile(pilot, "ins")
    for field, value in (("family", "DUPONT"), ("given", "Marie"), ("birthdate", "1962-03-14")):
        view.query_one(f"#ins-{field}", Input).value = value
    view.query_one("#ins-sex", Select).value = "F"
    view.query_one("#ins-search").press()
    await until(pilot, lambda: view.query_one("#ins-result").has_class("-shown"), "INS 00")
    # Her identity card checked: the identity is qualified, her INS may be shared.
    view.query_one("#ins-document", Select).value = "cni"
    view.query_one("#ins-qualify").press()
    await until(pilot, lambda: "qualifiée" in text(view, "#ins-identity"), "qualified")
    view.query_one("#ins-choose").press()
    await until(pilot, lambda: app.patient is not None, "DUPONT as the patient")
    await shooter.shoot(pilot, "ins")
    await back_to_dashboard(pilot)

    view = await open_tile(pilot, "dmp")
    await until(pilot, lambda: view.query_one(DataTable).row_count > 0, "the documents")
    await shooter.shoot(pilot, "dmp")
    await back_to_dashboard(pilot)

    number = await prescribe(pilot, await open_tile(pilot, "eprescription"))
    await shooter.shoot(pilot, "ordonnance")
    await back_to_dashboard(pilot)

    view = await open_tile(pilot, "fse")
    await until(pilot, lambda: "carte Vitale" in text(view, "#fse-rights"), "the card read")
    for act in ("G", "VG", "MD"):
        view.query_one("#fse-act", Select).value = act
        await pilot.press("a")
    await until(pilot, lambda: "Base 70,00 €" in text(view, "#fse-amounts"), "the amounts")
    await shooter.shoot(pilot, "fse")
    await pilot.press("m")
    await until(pilot, lambda: "boîte d'envoi" in text(view, "#fse-status"), "queued")
    await pilot.press("o", "e")
    await until(pilot, lambda: "ARL positif" in text(view, "#fse-send-status"), "the ARL")
    await shooter.shoot(pilot, "fse-envoi")
    await back_to_dashboard(pilot)
    app.set_patient(None)
    await pilot.resize_terminal(*SIZE)
    return number


async def dispense(pilot: Pilot, shooter: Shooter, number: str) -> None:
    """The pharmacist retrieves the prescription by its number."""
    await pilot.resize_terminal(*CONNECTOR_SIZE)
    view = await open_tile(pilot, "eprescription")
    view.query_one("#rx-number-input", Input).value = number
    view.query_one("#rx-find").press()
    await until(pilot, lambda: view.query_one("#rx-dispense-lines", DataTable).row_count, "lines")
    await shooter.shoot(pilot, "delivrance")
    await back_to_dashboard(pilot)
    await pilot.resize_terminal(*SIZE)


def text(view: Any, selector: str) -> str:
    return str(view.query_one(selector).render())


PRESCRIPTION = (
    ("paracetamol 1 g", "1 comprimé 3 fois par jour si douleur", "2"),
    ("amoxicilline 500 gelule", "1 gélule matin et soir pendant 7 jours", "7j"),
)


async def prescribe(pilot: Pilot, view: Any) -> str:
    """Two lines for the context patient, signed: the prescription's number."""
    lines = view.query_one("#rx-lines", DataTable)
    for count, (search, dosage, quantity) in enumerate(PRESCRIPTION, start=1):
        view.query_one("#rx-search", Input).value = search
        results = view.query_one("#rx-results", DataTable)
        await until(pilot, lambda r=results: r.row_count, f"results for {search}")
        results.focus()
        results.move_cursor(row=0)
        await pilot.press("enter")
        await until(pilot, lambda: view.query_one("#rx-dosage", Input).has_focus, "the dosage")
        view.query_one("#rx-dosage", Input).value = dosage
        view.query_one("#rx-quantity", Input).value = quantity
        view.query_one("#rx-add").press()
        await until(pilot, lambda n=count: lines.row_count == n, f"line {count} added")
    view.query_one("#rx-sign").press()
    await until(pilot, lambda: view.query_one("#rx-signed").has_class("-shown"), "signed")
    found = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]", text(view, "#rx-number"))
    assert found is not None
    return found.group(0)


async def trainer(shooter: Shooter) -> None:
    """`bsp --demo`: the phone panel, the SSO trace and a fault."""
    clock = StillClock()
    app = BspApp(demo=True, clock=clock)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        # Another professional than the clinician part's: her e-CPS codes of the last
        # minute are spent (the platform refuses a one-time code twice).
        who = persona("urgentiste")
        shooter.pins.add(who["pin"])
        await type_national_id(pilot, who["national_id"])
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                app.screen.query_one("#phone-binding", Digits).value
                and app.screen.query_one("#binding", Digits).value
            ),
            "the push on the phone panel",
        )
        await shooter.shoot(pilot, "demo-phone")

        await pilot.click("#phone-pin")
        await pilot.press(*who["pin"], "enter")
        await tiles_checked(pilot)
        hold_clock_at_sign_in(app, clock)
        await until(
            pilot,
            lambda: not app.screen.query_one("#phone-pin", Input).display,
            "the phone panel at rest",
        )
        await shooter.shoot(pilot, "demo")

        app.screen.query_one("#fault-service", Select).value = "dmp"
        await pilot.pause()
        await pilot.click("#fault-down")
        await until(
            pilot,
            lambda: app.screen.query_one("#tile-dmp", ConnectorTile).state == "down",
            "the DMP tile in red",
        )
        await shooter.shoot(pilot, "demo-panne")
        await pilot.click("#fault-reset")
        await until(
            pilot,
            lambda: app.screen.query_one("#tile-dmp", ConnectorTile).state == "ready",
            "the DMP tile in green again",
        )


async def main() -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    shooter = Shooter()
    print(f"Screenshots into {IMG}:")
    await clinician(shooter)
    await trainer(shooter)
    print(f"{len(shooter.saved)} screenshots.")


if __name__ == "__main__":
    asyncio.run(main())
