"""The trainer's faults: a service down answers 503, latency delays all but /demo."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from bsp_tui.platform import faults
from bsp_tui.platform.app import create_app
from bsp_tui.platform.bell import BELL, Bell
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from tests.conftest import Emulation

pytestmark = pytest.mark.anyio
NO_FAULT = {"down": [], "latency_ms": 0}


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The latency the platform adds to each answer, recorded instead of waited."""
    recorded: list[int] = []

    async def record(latency_ms: int) -> None:
        recorded.append(latency_ms)

    monkeypatch.setattr(faults, "delay", record)
    return recorded


async def api_tokens(emu: Emulation, *audiences: str) -> dict[str, str]:
    access = (await emu.sign_in())["access_token"]
    tokens = {}
    for audience in audiences:
        response = await emu.exchange(access, audience)
        assert response.status_code == 200, response.text
        tokens[audience] = response.json()["access_token"]
    return tokens


async def me(emu: Emulation, service: str, token: str) -> httpx.Response:
    return await emu.http.get(f"/api/{service}/me", headers={"Authorization": f"Bearer {token}"})


async def test_a_service_down_answers_503_and_the_others_keep_working(emu: Emulation) -> None:
    tokens = await api_tokens(emu, "dmp", "ins")
    assert (await emu.http.get("/demo/faults")).json() == NO_FAULT
    response = await emu.http.put("/demo/faults", json={"down": ["dmp"]})
    assert response.status_code == 200
    assert response.json() == {"down": ["dmp"], "latency_ms": 0}

    down = await me(emu, "dmp", tokens["dmp"])
    assert down.status_code == 503
    assert down.json() == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "transient",
                "diagnostics": "Service dmp indisponible (panne simulée).",
            }
        ],
    }
    # Every route of the service, even one it does not have, and without a token.
    assert (await emu.http.get("/api/dmp/documents")).status_code == 503
    assert (await me(emu, "ins", tokens["ins"])).status_code == 200
    assert (await emu.http.get("/demo/faults")).json() == {"down": ["dmp"], "latency_ms": 0}

    reset = await emu.http.post("/demo/faults/reset")
    assert reset.status_code == 200
    assert reset.json() == NO_FAULT
    assert (await me(emu, "dmp", tokens["dmp"])).status_code == 200


async def test_latency_delays_every_answer_but_the_demo_routes(
    emu: Emulation, delays: list[int]
) -> None:
    tokens = await api_tokens(emu, "ins")
    assert delays == []  # no latency set: nothing waits
    response = await emu.http.put("/demo/faults", json={"latency_ms": 1500})
    assert response.json() == {"down": [], "latency_ms": 1500}
    assert (await me(emu, "ins", tokens["ins"])).status_code == 200
    assert (
        await emu.http.get("/auth/realms/esante-wallet/protocol/openid-connect/certs")
    ).is_success
    assert delays == [1500, 1500]
    assert (await emu.http.get("/demo/faults")).json() == {"down": [], "latency_ms": 1500}
    assert delays == [1500, 1500]  # the trainer's own routes are never slowed


async def test_the_latency_really_waits(emu: Emulation) -> None:
    """The real delay function (1 ms: no timing is asserted, only that it runs)."""
    assert (await emu.http.put("/demo/faults", json={"latency_ms": 1})).status_code == 200
    response = await emu.http.get("/")
    assert response.status_code == 200
    assert response.json()["name"].startswith("bsp")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"down": ["radiologie"]}, "Service inconnu « radiologie » ; possibles : ins, dmp"),
        ({"down": ["dmp", ""]}, "Service inconnu «  »"),
        ({"latency_ms": -1}, "Latence hors limites : de 0 à 10000 ms."),
        ({"latency_ms": 10_001}, "Latence hors limites : de 0 à 10000 ms."),
        ({"latency_ms": "100"}, None),
        ({"latency_ms": 1.5}, None),
        ({"down": "dmp"}, None),
        ({"latency": 100}, None),
        ([], None),
    ],
)
async def test_a_bad_body_is_refused_and_changes_nothing(
    emu: Emulation, body: object, message: str | None
) -> None:
    before = {"down": ["fse"], "latency_ms": 0}
    assert (await emu.http.put("/demo/faults", json=before)).status_code == 200
    response = await emu.http.put("/demo/faults", json=body)
    assert response.status_code == 422
    if message:
        assert message in response.json()["detail"][0]["msg"]
    assert (await emu.http.get("/demo/faults")).json() == before


async def test_the_limits_themselves_are_accepted(emu: Emulation) -> None:
    every = {"down": ["dmp", "eprescription", "fse", "ins"], "latency_ms": 10_000}
    response = await emu.http.put("/demo/faults", json=every | {"down": [*every["down"], "dmp"]})
    assert response.json() == every
    assert (await emu.http.put("/demo/faults", json={})).json() == NO_FAULT


async def test_resetting_the_platform_lifts_the_faults(emu: Emulation) -> None:
    tokens = await api_tokens(emu, "fse")
    await emu.http.put("/demo/faults", json={"down": ["fse"], "latency_ms": 5})
    emu.platform.reset()
    assert (await emu.http.get("/demo/faults")).json() == NO_FAULT
    tokens = await api_tokens(emu, "fse")  # the reset ended the session too
    assert (await me(emu, "fse", tokens["fse"])).status_code == 200


async def test_a_fault_set_on_one_platform_applies_to_another_over_the_same_database(
    emu: Emulation, settings: PlatformSettings
) -> None:
    other = create_app(settings)  # a served platform and an embedded one: one database
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL) as http:
        assert (await http.get("/api/ins/me")).status_code == 401
        await emu.http.put("/demo/faults", json={"down": ["ins"]})
        assert (await http.get("/api/ins/me")).status_code == 503
        assert (await http.get("/demo/faults")).json()["down"] == ["ins"]
        await http.post("/demo/faults/reset")
        assert (await emu.http.get("/api/ins/me")).status_code == 401
    other.state.platform.db.close()


async def test_rows_that_make_no_sense_read_as_no_fault(emu: Emulation) -> None:
    db = emu.platform.db
    with db.write() as conn:
        conn.execute("INSERT INTO faults (name, value) VALUES ('down', 'not json')")
    assert faults.read_faults(db) == faults.NO_FAULT
    with db.write() as conn:
        conn.execute("UPDATE faults SET value = '[\"dmp\", \"radiologie\"]' WHERE name = 'down'")
        conn.execute("INSERT INTO faults (name, value) VALUES ('latency_ms', '99999')")
    assert faults.read_faults(db) == faults.Faults(frozenset({"dmp"}), faults.MAX_LATENCY_MS)


async def test_setting_invalid_faults_directly_is_a_french_error(emu: Emulation) -> None:
    with pytest.raises(ValueError, match="Service inconnu « x »"):
        faults.set_faults(emu.platform.db, faults.Faults(frozenset({"x"}), 0))
    with pytest.raises(ValueError, match="Latence hors limites"):
        faults.set_faults(emu.platform.db, faults.Faults(frozenset(), 20_000))
    assert faults.read_faults(emu.platform.db) == faults.NO_FAULT


async def test_a_change_no_bell_announced_is_seen_within_the_freshness_bound(
    emu: Emulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process over the same SQLite file rings no bell here: what this one read
    serves until `FRESH_SECONDS` have passed, not longer."""
    now = [1000.0]
    monkeypatch.setattr(faults.time, "monotonic", lambda: now[0])
    token = (await api_tokens(emu, "ins"))["ins"]
    assert (await me(emu, "ins", token)).status_code == 200
    with emu.platform.db.write() as conn:  # as another process writes it: no ring
        conn.execute("INSERT INTO faults (name, value) VALUES ('down', '[\"ins\"]')")
    assert (await me(emu, "ins", token)).status_code == 200
    now[0] += faults.FRESH_SECONDS - 0.01
    assert (await me(emu, "ins", token)).status_code == 200
    now[0] += 0.02
    assert (await me(emu, "ins", token)).status_code == 503
    # A change this process makes is seen at once, however fresh the faults read.
    faults.clear_faults(emu.platform.db)
    assert (await me(emu, "ins", token)).status_code == 200


async def test_a_change_of_the_faults_notifies_the_other_workers(
    emu: Emulation, engine: str
) -> None:
    """On PostgreSQL another worker's bell hears a change of the faults (NOTIFY), so its
    gate reads them again at once; on SQLite the one process rings its own."""
    db = emu.platform.db
    topic = db.topic(faults.FAULTS_TOPIC)
    other = Bell()
    if engine == "postgresql":
        other.listen_to(db.engine.url)
    try:
        before = other.rung(topic), BELL.rung(topic)
        deadline = time.monotonic() + 20
        while other.rung(topic) == before[0] and engine == "postgresql":
            # The listening connection takes a moment to be made: change until heard.
            assert time.monotonic() < deadline, "no notification reached the other worker"
            faults.set_faults(db, faults.Faults(frozenset({"dmp"}), 0))
            await anyio.sleep(0.05)
        faults.clear_faults(db)
        assert BELL.rung(topic) > before[1]
    finally:
        other.stop_listening(db.engine.url)
