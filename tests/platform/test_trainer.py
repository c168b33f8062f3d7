"""The trainer's powers over HTTP need the served platform's trainer token."""

from __future__ import annotations

import pytest

from bsp_tui.platform.settings import PlatformSettings
from tests.conftest import Emulation

pytestmark = pytest.mark.anyio

TOKEN = "jeton-formateur-de-test-0123456789"
POWERS = [
    ("GET", "/demo/faults", None),
    ("PUT", "/demo/faults", {"down": ["dmp"], "latency_ms": 10_000}),
    ("POST", "/demo/faults/reset", None),
    ("POST", "/demo/reset", None),
    ("GET", "/demo/personas", None),
    ("POST", "/demo/personas/generaliste/activation-codes", None),
    ("POST", "/demo/clients", {"client_id": "intrus", "redirect_uris": []}),
]


@pytest.fixture
def settings(settings: PlatformSettings) -> PlatformSettings:
    """A served platform's settings: with a trainer token."""
    settings.trainer_token = TOKEN
    return settings


@pytest.mark.parametrize(("method", "path", "body"), POWERS, ids=[p[1] for p in POWERS])
@pytest.mark.parametrize("given", [None, "Bearer mauvais-jeton", "Basic eDp5", f"Bearer {TOKEN}x"])
async def test_without_the_trainer_token_nothing_changes(
    emu: Emulation, method: str, path: str, body: dict | None, given: str | None
) -> None:
    await emu.sign_in("generaliste")
    headers = {"Authorization": given} if given else {}
    response = await emu.http.request(method, path, json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "jeton formateur" in response.json()["issue"][0]["diagnostics"]
    assert "pin" not in response.text
    # Nothing was done: no fault, the session still open, no client added.
    assert emu.platform.db.all("SELECT * FROM faults") == []
    assert emu.platform.db.value("SELECT count(*) FROM sessions WHERE ended IS NULL") == 1
    assert emu.platform.clients.get("intrus") is None
    assert emu.platform.db.all("SELECT * FROM ecps_activations WHERE used IS NULL") == []


async def test_with_the_trainer_token_every_power_works(emu: Emulation) -> None:
    trainer = {"Authorization": f"Bearer {TOKEN}"}
    put = await emu.http.put("/demo/faults", json={"down": ["dmp"]}, headers=trainer)
    assert put.json() == {"down": ["dmp"], "latency_ms": 0}
    listed = (await emu.http.get("/demo/personas", headers=trainer)).json()
    assert {p["name"]: p["pin"] for p in listed}["generaliste"] == emu.persona("generaliste")["pin"]
    assert all(p["activation_code"] for p in listed)
    logout_uri = "https://outil.example/deconnexion"
    added = await emu.http.post(
        "/demo/clients",
        json={"client_id": "outil", "redirect_uris": [], "backchannel_logout_uri": logout_uri},
        headers=trainer,
    )
    assert added.status_code == 201
    assert added.json()["client_secret"]
    assert added.json()["backchannel_logout_uri"] == logout_uri
    assert emu.platform.clients.get("outil")["backchannel_logout_uri"] == logout_uri
    reset = await emu.http.post("/demo/reset", headers=trainer)
    assert reset.status_code == 200
    assert emu.platform.db.all("SELECT * FROM faults") == []
    assert emu.platform.clients.get("outil") is None


async def test_the_embedded_platform_has_no_trainer_token(tmp_path, clock) -> None:
    """Embedded, the person at the desk owns the platform: the powers are open."""
    from httpx import ASGITransport, AsyncClient

    from bsp_tui.platform.app import create_app

    app = create_app(PlatformSettings(database=tmp_path / "own.sqlite3", clock=clock))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://x") as http:
        assert (await http.put("/demo/faults", json={"down": ["ins"]})).status_code == 200
        assert (await http.post("/demo/faults/reset")).status_code == 200
    app.state.platform.db.close()
