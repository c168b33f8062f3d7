"""Snapshots (pytest-textual-snapshot) of the sign-in, waiting, dashboard and trace
screens, in the default theme and the high-contrast one.

Everything on screen is fixed: a fake session with a fixed professional and fixed token
lifetimes, a fixed clock, the binding number 42, tiles set by hand, trace entries built
here, local time in UTC, and no blinking cursor. Regenerate with `--snapshot-update`
and look at the SVGs before committing them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Digits, Input

from bsp_tui.app.app import BspApp
from bsp_tui.app.prefs import Prefs
from bsp_tui.app.screens.dashboard import DashboardScreen
from bsp_tui.app.screens.signin import SignInScreen
from bsp_tui.app.screens.waiting import WaitingScreen
from bsp_tui.app.widgets.phone_panel import PhonePanel
from bsp_tui.app.widgets.tile import ConnectorTile
from bsp_tui.app.widgets.trace_panel import TracePanel
from bsp_tui.domain.identifiers import luhn_check_digit
from bsp_tui.sso import flows
from bsp_tui.sso.trace import RedactedToken, TraceEntry
from tests.app.conftest import wait_for

NOW = 1_700_000_000  # 2023-11-14 22:13:20 UTC
THEMES = ("bsp", "bsp-contraste")
PLAIN = (80, 24)
DEMO = (120, 40)
RPPS = "1000001230" + luhn_check_digit("1000001230")
NATIONAL_ID = "8" + RPPS
WHO = {
    "name": "Élise Martin-Dubois",
    "given_name": "Élise",
    "family_name": "Martin-Dubois",
    "national_id": NATIONAL_ID,
    "rpps": RPPS,
    "profession_code": "10",
    "profession": "Médecin",
    "organisation": "Cabinet médical des Tilleuls",
}
PERSONAS = [
    {
        "name": "generaliste",
        "display_name": "Élise Martin-Dubois",
        "profession_code": "10",
        "profession": "Médecin",
        "national_id": NATIONAL_ID,
        "rpps": RPPS,
    }
]


class DictStore:
    kind = "memory"

    def __init__(self, data: dict[str, dict]) -> None:
        self.data = data

    def get(self, key: str) -> dict | None:
        return self.data.get(key)

    def put(self, key: str, value: dict) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def platform_answers(request: httpx.Request) -> httpx.Response:
    """The few platform calls the demo panels make, answered with fixed data."""
    path = request.url.path
    if path == "/ecps/personas":
        return httpx.Response(200, json=PERSONAS)
    if path == "/ecps/requests":
        return httpx.Response(200, json=[])
    if path == "/demo/faults":
        return httpx.Response(200, json={"down": [], "latency_ms": 0})
    return httpx.Response(404, json={})


class FixedSession:
    """What the app needs of a session, with nothing that depends on the time of day."""

    def __init__(self, signed_in: bool) -> None:
        data: dict[str, dict] = {}
        if signed_in:
            data["session"] = {"who": WHO, "refresh_expires_at": NOW + 10 * 3600}
            data["access"] = {"token": "x", "expires_at": NOW + 120, "lifetime": 120}
        self.store = DictStore(data)
        self.warnings: list[str] = []
        self.tracer = None
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url="http://plateforme.bsp", transport=httpx.MockTransport(platform_answers)
            )
        return self._http

    async def sign_in(self, flow: str, on_event, national_id: str | None = None) -> dict:
        on_event(flows.Binding("42", 120))
        await asyncio.Event().wait()  # the professional never answers
        raise AssertionError("unreachable")

    async def connector_token(self, audience: str, **_: object) -> str:
        await asyncio.Event().wait()  # the tiles keep the states the test gives them
        raise AssertionError("unreachable")

    async def access_token(self, min_valid: float = 0) -> str:
        return "x"


def app_for(theme: str, signed_in: bool, demo: bool = False) -> BspApp:
    return BspApp(
        demo=demo,
        session_factory=lambda profile: FixedSession(signed_in),  # type: ignore[arg-type,return-value]
        clock=lambda: NOW,
        prefs=Prefs(theme=theme, lock_after=24 * 3600),
    )


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC, whatever the machine's zone (the trace shows times of day)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def still_cursors(app: BspApp) -> None:
    """No blinking cursor: a snapshot must not depend on when it is taken."""
    for field in app.screen.query(Input):
        field.cursor_blink = False


async def on_sign_in(pilot: Pilot) -> None:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, SignInScreen)
            and app.screen.is_mounted
            and app._session is not None
        ),
    )


async def show_dashboard(pilot: Pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.is_mounted)
    for tile in app.screen.query(ConnectorTile):
        tile.show("ready", "Jeton valable jusqu'à 14:05")
    await wait_for(pilot, lambda: app.screen.query_one("#tile-ins").has_focus)


def jwt(header: dict, claims: dict) -> str:
    def part(value: dict) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}.c2lnbmF0dXJlLWZpeGU"


ACCESS = jwt(
    {"alg": "RS256", "kid": "demo-1", "typ": "JWT"},
    {
        "iss": "http://plateforme.bsp/auth/realms/esante-wallet",
        "sub": "f1e2d3c4",
        "aud": "dmp",
        "exp": NOW + 120,
        "scope": "openid scope_all",
    },
)
ENTRIES = [
    TraceEntry(NOW, "Découverte OIDC", "GET", "/auth/realms/esante-wallet/.well-known", 200, 12),
    TraceEntry(NOW + 1, "CIBA : demande e-CPS", "POST", "/ext/ciba/auth", 200, 31),
    TraceEntry(
        NOW + 2, "Jeton : attente (CIBA)", "POST", "/token", 400, 8, error="authorization_pending"
    ),
    TraceEntry(NOW + 5, "Jeton : attente (CIBA)", "POST", "/token", 200, 44),
    TraceEntry(
        NOW + 6,
        "Jeton : échange → dmp",
        "POST",
        "/auth/realms/esante-wallet/protocol/openid-connect/token",
        200,
        27,
        tokens=(RedactedToken.of("access_token", ACCESS),),
    ),
]


@pytest.mark.parametrize("theme", THEMES)
def test_sign_in_screen(snap_compare, theme: str) -> None:
    async def run_before(pilot: Pilot) -> None:
        await on_sign_in(pilot)
        still_cursors(pilot.app)

    assert snap_compare(app_for(theme, signed_in=False), terminal_size=PLAIN, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
def test_waiting_screen(snap_compare, theme: str) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        await on_sign_in(pilot)
        await pilot.press(*NATIONAL_ID, "enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, WaitingScreen)
                and app.screen.query_one("#binding", Digits).value == "42"
                and "2 min 00 s" in str(app.screen.query_one("#countdown").render())
            ),
        )

    assert snap_compare(app_for(theme, signed_in=False), terminal_size=PLAIN, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
def test_dashboard(snap_compare, theme: str) -> None:
    assert snap_compare(
        app_for(theme, signed_in=True), terminal_size=PLAIN, run_before=show_dashboard
    )


@pytest.mark.parametrize("theme", THEMES)
def test_demo_trace_panel(snap_compare, theme: str) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        await show_dashboard(pilot)
        panel = app.screen.query_one(TracePanel)
        await wait_for(pilot, lambda: app.screen.query_one(PhonePanel)._personas)
        for entry in ENTRIES:
            panel.add(entry)
        await wait_for(
            pilot, lambda: "…signature…" in str(panel.query_one("#trace-detail").render())
        )
        still_cursors(app)

    app = app_for(theme, signed_in=True, demo=True)
    assert snap_compare(app, terminal_size=DEMO, run_before=run_before)
