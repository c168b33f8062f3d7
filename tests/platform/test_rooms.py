"""Rooms: independent platforms at /rooms/NAME/ of one app, on both engines.

Each room has its own issuer and keys, personas and PINs, faults and reset, and the same
seeded patients; a room removed through one worker is gone for every other from the
next request on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import httpx
import pytest
from fastapi import FastAPI
from joserfc.jwk import RSAKey

from bsp_tui.platform import signing
from bsp_tui.platform.app import create_app
from bsp_tui.platform.rooms import Rooms
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from tests.conftest import OIDC, Clock, Emulation, pkce_pair
from tests.platform.test_code_flow import AUTH, authorize_params, get_code

pytestmark = pytest.mark.anyio
USERINFO = f"{OIDC}/userinfo"


@dataclass
class Served:
    """The root app (one worker) and a client to it."""

    app: FastAPI
    http: httpx.AsyncClient
    clock: Clock

    @property
    def rooms(self) -> Rooms:
        return self.app.state.rooms

    def room(self, name: str) -> Emulation:
        """The room as a launcher reaches it: its own base URL, its own platform."""
        found = self.rooms.find(name)
        assert found is not None
        http = httpx.AsyncClient(
            transport=self.http._transport, base_url=f"{EMBEDDED_BASE_URL}/rooms/{name}"
        )
        return Emulation(self.rooms.open(found), http, self.clock)


@pytest.fixture
async def served(settings: PlatformSettings, clock: Clock) -> AsyncIterator[Served]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL) as http:
        yield Served(app, http, clock)


async def add(http: httpx.AsyncClient, name: str) -> httpx.Response:
    return await http.post("/demo/rooms", json={"name": name})


async def me(room: Emulation, audience: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return (await room.http.get(f"/api/{audience}/me", headers=headers)).status_code


async def test_two_rooms_are_two_platforms_with_the_same_patients(served: Served) -> None:
    assert (await add(served.http, "salle-a")).status_code == 201
    assert (await add(served.http, "b2")).status_code == 201
    twice = await add(served.http, "salle-a")
    assert twice.status_code == 409
    assert "existe déjà" in twice.json()["issue"][0]["diagnostics"]
    bad = await add(served.http, "Salle_A")
    assert bad.status_code == 400
    assert "Nom de salle invalide" in bad.json()["issue"][0]["diagnostics"]
    listed = (await served.http.get("/demo/rooms")).json()
    assert [r["name"] for r in listed] == ["b2", "salle-a"]
    assert listed[1]["url"] == f"{EMBEDDED_BASE_URL}/rooms/salle-a"

    a, b = served.room("salle-a"), served.room("b2")
    discovery = await a.http.get(f"{OIDC.rsplit('/', 2)[0]}/.well-known/openid-configuration")
    issuer = f"{EMBEDDED_BASE_URL}/rooms/salle-a/auth/realms/esante-wallet"
    assert discovery.json()["issuer"] == issuer
    assert discovery.json()["token_endpoint"].startswith(issuer)

    tokens_a, tokens_b = await a.sign_in(), await b.sign_in()
    # The browser's pages post, and keep their cookie, under the room's prefix.
    page = await a.http.get(AUTH, params=authorize_params(pkce_pair()[1]))
    assert 'action="/rooms/salle-a/wallet/auth/login"' in page.text
    assert "Path=/rooms/salle-a/wallet" in page.headers["set-cookie"]
    code, _ = await get_code(a)
    assert code
    ins_a = (await a.exchange(tokens_a["access_token"], "ins")).json()["access_token"]
    assert await me(a, "ins", ins_a) == 200
    # Another room's services, and the root's, know neither that issuer nor its keys.
    assert await me(b, "ins", ins_a) == 401
    assert (
        await served.http.get("/api/ins/me", headers={"Authorization": f"Bearer {ins_a}"})
    ).status_code == 401
    headers_b = {"Authorization": f"Bearer {tokens_b['access_token']}"}
    assert (await a.http.get(USERINFO, headers=headers_b)).status_code == 401

    def pins(room: Emulation) -> list[tuple[str, str]]:
        return [(p["name"], p["pin"]) for p in room.platform.ecps.personas()]

    assert [n for n, _ in pins(a)] == [n for n, _ in pins(b)]
    assert pins(a) != pins(b)
    root = served.app.state.platform
    query = "SELECT ins, family FROM patients ORDER BY seq"
    patients = [tuple(r) for r in root.db.all(query)]
    assert len(patients) > 2
    assert [tuple(r) for r in a.platform.db.all(query)] == patients
    assert [tuple(r) for r in b.platform.db.all(query)] == patients


async def test_faults_and_reset_stay_in_their_room(served: Served) -> None:
    for name in ("a", "b"):
        assert (await add(served.http, name)).status_code == 201
    a, b = served.room("a"), served.room("b")
    tokens_a, tokens_b = await a.sign_in(), await b.sign_in("infirmier")
    ins_b = (await b.exchange(tokens_b["access_token"], "ins")).json()["access_token"]

    assert (await a.http.put("/demo/faults", json={"down": ["ins"]})).status_code == 200
    assert (await a.http.get("/api/ins/me")).status_code == 503
    assert (await b.http.get("/demo/faults")).json()["down"] == []
    assert (await served.http.get("/demo/faults")).json()["down"] == []
    assert await me(b, "ins", ins_b) == 200

    assert (await served.http.post("/demo/rooms/a/reset")).json() == {"name": "a", "reset": True}
    assert (await a.http.get("/demo/faults")).json()["down"] == []
    headers_a = {"Authorization": f"Bearer {tokens_a['access_token']}"}
    assert (await a.http.get(USERINFO, headers=headers_a)).status_code == 401
    # The other room keeps its sessions.
    headers_b = {"Authorization": f"Bearer {tokens_b['access_token']}"}
    assert (await b.http.get(USERINFO, headers=headers_b)).status_code == 200
    assert await me(b, "ins", ins_b) == 200
    missing = await served.http.post("/demo/rooms/nope/reset")
    assert missing.status_code == 404


async def test_a_room_removed_by_another_worker_is_gone_at_the_next_request(
    served: Served, settings: PlatformSettings
) -> None:
    other_app = create_app(settings)  # a second worker over the same database
    transport = httpx.ASGITransport(app=other_app)
    async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL) as other:
        assert (await add(served.http, "a")).status_code == 201
        certs = f"{OIDC}/certs"
        first = await served.http.get(f"/rooms/a{certs}")
        assert first.status_code == 200  # this worker has built and cached the room's app
        assert (await other.delete("/demo/rooms/a")).json() == {"name": "a", "removed": True}
        gone = await served.http.get(f"/rooms/a{certs}")
        assert gone.status_code == 404
        assert gone.json()["error_description"] == "Salle inconnue « a »."
        service = await served.http.get("/rooms/a/api/ins/me")
        assert service.status_code == 404 and service.json()["resourceType"] == "OperationOutcome"
        assert (await other.delete("/demo/rooms/a")).status_code == 404

        # Added again elsewhere: a new room, new keys, served here too.
        assert (await add(other, "a")).status_code == 201
        again = await served.http.get(f"/rooms/a{certs}")
        assert again.status_code == 200
        assert again.json() != first.json()
    # The root itself goes on as before.
    assert (
        (await served.http.get("/")).json()["psc"]["issuer"].endswith("/auth/realms/esante-wallet")
    )
    assert (await served.http.get("/rooms/")).status_code == 404
    index = await served.http.get("/rooms/a")
    assert index.status_code == 307 and index.headers["location"].endswith("/rooms/a/")


async def test_a_served_room_needs_the_root_trainer_token(settings: PlatformSettings) -> None:
    app = create_app(replace(settings, trainer_token="jeton-du-formateur"))
    trainer = {"Authorization": "Bearer jeton-du-formateur"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL) as http:
        assert (await add(http, "a")).status_code == 401
        added = await http.post("/demo/rooms", json={"name": "a"}, headers=trainer)
        assert added.status_code == 201
        assert (await http.get("/rooms/a/demo/personas")).status_code == 401
        assert (await http.post("/rooms/a/demo/reset")).status_code == 401
        personas = await http.get("/rooms/a/demo/personas", headers=trainer)
        assert personas.status_code == 200 and personas.json()[0]["pin"]
        assert (await http.delete("/demo/rooms/a")).status_code == 401


async def test_a_room_s_signing_key_is_read_when_its_app_is_built(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker reads a room's key (its PEM checked: tens of ms) as it builds the room's
    app on the first request, not during the room's first sign-in, which a whole room
    makes at once."""
    assert (await add(served.http, "a")).status_code == 201
    imported: list[str] = []
    real = RSAKey.import_key

    def counted(value: object, parameters: dict | None = None) -> RSAKey:
        imported.append(str((parameters or {}).get("kid")))
        return real(value, parameters)

    monkeypatch.setattr(signing.RSAKey, "import_key", counted)
    assert (await served.http.get("/rooms/a/ecps/personas")).status_code == 200  # no key needed
    assert len(imported) == 1
    room = served.room("a")
    try:
        tokens = await room.sign_in()
        assert (await room.exchange(tokens["access_token"], "ins")).status_code == 200
    finally:
        await room.http.aclose()
        room.platform.db.close()
    assert len(imported) == 1  # the sign-in and the exchange signed with the key read
