"""Behind a reverse proxy: the issuer and every link use the platform's public URL.

The proxy here is what nginx would do in front of `bsp platform serve --public-url
https://bsp.example.org/salle`: it takes `https://bsp.example.org/salle/…`, strips
`/salle`, and calls the platform over plain HTTP with its own Host header.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from bsp_tui.phone import DeviceStore, VirtualPhone
from bsp_tui.platform.app import create_app
from bsp_tui.platform.bodies import ASGIApp, Receive, Scope, Send
from bsp_tui.platform.core import Platform
from bsp_tui.platform.population import generate
from bsp_tui.platform.settings import PlatformSettings
from tests.conftest import CIBA, CIBA_GRANT, LAUNCHER, TOKEN, Clock
from tests.support.shell import run_bsp

pytestmark = pytest.mark.anyio
PUBLIC = "https://bsp.example.org/salle"
REALM = "/auth/realms/esante-wallet"
OID_TEST = "urn:oid:1.2.250.1.213.1.4.10"


def behind_proxy(app: ASGIApp, prefix: str) -> ASGIApp:
    """The platform as a path-stripping reverse proxy exposes it."""

    async def proxied(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            assert scope["path"].startswith(prefix + "/"), scope["path"]
            path = scope["path"].removeprefix(prefix)
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope = scope | {
                "path": path,
                "raw_path": path.encode(),
                "scheme": "http",
                "server": ("127.0.0.1", 8700),
                "headers": [*headers, (b"host", b"127.0.0.1:8700")],
            }
        await app(scope, receive, send)

    return proxied


@pytest.fixture
async def public(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Platform, Clock]]:
    clock = Clock()
    settings = PlatformSettings(tmp_path / "platform.sqlite3", clock=clock, public_url=PUBLIC)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=behind_proxy(app, "/salle"))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
        yield http, app.state.platform, clock


async def sign_in(http: httpx.AsyncClient, platform: Platform, clock: Clock) -> dict:
    """A CIBA sign-in as generaliste, approved by a phone that reaches the public URL."""
    phone = VirtualPhone(
        http,
        DeviceStore(),
        activation=lambda name: platform.ecps.issue_code(name)["code"],
        clock=clock,
    )
    persona = platform.ecps.persona(name="generaliste")
    started = await http.post(
        CIBA,
        data={
            "client_id": LAUNCHER,
            "scope": "openid scope_all",
            "login_hint": persona["national_id"],
            "binding_message": "42",
        },
    )
    assert started.status_code == 200, started.text
    clock.advance(30)
    await phone.approve_binding("generaliste", persona["pin"], "42")
    clock.advance(5)
    grant = {"grant_type": CIBA_GRANT, "auth_req_id": started.json()["auth_req_id"]}
    tokens = await http.post(TOKEN, data=grant | {"client_id": LAUNCHER})
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


async def test_issuer_tokens_and_links_use_the_public_url(
    public: tuple[httpx.AsyncClient, Platform, Clock],
) -> None:
    http, platform, clock = public
    discovery = (await http.get(f"{REALM}/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == PUBLIC + REALM
    assert discovery["jwks_uri"] == f"{PUBLIC}{REALM}/protocol/openid-connect/certs"
    assert discovery["authorization_endpoint"] == f"{PUBLIC}/wallet/auth"
    endpoints = [v for k, v in discovery.items() if k.endswith("_endpoint")]
    assert len(endpoints) >= 8 and all(url.startswith(PUBLIC + "/") for url in endpoints)
    assert (await http.get("/")).json()["psc"]["issuer"] == PUBLIC + REALM

    tokens = await sign_in(http, platform, clock)
    for kind in ("access_token", "id_token"):
        assert jwt.decode(tokens[kind], options={"verify_signature": False})["iss"] == (
            PUBLIC + REALM
        )
    exchanged = await http.post(
        TOKEN,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": tokens["access_token"],
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "audience": "dmp",
            "client_id": LAUNCHER,
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    bearer = {"Authorization": f"Bearer {exchanged.json()['access_token']}"}
    # The token issued under the public issuer is accepted by the services.
    assert (await http.get("/api/dmp/me", headers=bearer)).status_code == 200

    ins = generate().people[0].ins
    listed = await http.get(
        "/api/dmp/DocumentReference",
        params={"patient.identifier": f"{OID_TEST}|{ins}"},
        headers=bearer,
    )
    assert listed.status_code == 200, listed.text
    entries = listed.json()["entry"]
    assert len(entries) == 11
    for entry in (entries[0], entries[5], entries[-1]):
        assert entry["fullUrl"].startswith(f"{PUBLIC}/api/dmp/DocumentReference/")
        url = entry["resource"]["content"][0]["attachment"]["url"]
        assert url.startswith(f"{PUBLIC}/api/dmp/Binary/")
    filed = await http.post(
        "/api/dmp/DocumentReference",
        json={
            "resourceType": "DocumentReference",
            "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
            "subject": {"identifier": {"system": OID_TEST, "value": ins}},
            "description": "Consultation du jour",
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain",
                        "data": base64.b64encode(b"Examen normal.\n").decode(),
                    }
                }
            ],
        },
        headers=bearer | {"Content-Type": "application/fhir+json"},
    )
    assert filed.status_code == 201, filed.text
    assert filed.headers["Location"].startswith(f"{PUBLIC}/api/dmp/DocumentReference/")


async def test_device_verification_and_wallet_pages_point_under_the_public_url(
    public: tuple[httpx.AsyncClient, Platform, Clock],
) -> None:
    http, _, _ = public
    device = await http.post(
        f"{REALM}/protocol/openid-connect/auth/device",
        data={"client_id": LAUNCHER, "scope": "openid scope_all"},
    )
    assert device.status_code == 200, device.text
    assert device.json()["verification_uri"] == f"{PUBLIC}{REALM}/device"
    assert device.json()["verification_uri_complete"].startswith(f"{PUBLIC}{REALM}/device?")
    page = await http.get(f"{REALM}/device")
    assert f'action="/salle{REALM}/device"' in page.text
    login = await http.get(
        "/wallet/auth",
        params={
            "client_id": LAUNCHER,
            "redirect_uri": "http://127.0.0.1:8765/callback",
            "response_type": "code",
            "scope": "openid scope_all",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        },
    )
    assert login.status_code == 200, login.text
    assert 'action="/salle/wallet/auth/login"' in login.text
    assert "Path=/salle/wallet" in login.headers["set-cookie"]


def test_serve_refuses_a_public_url_that_is_no_http_url(tmp_path: Path) -> None:
    env = {"BSP_HOME": str(tmp_path / "home"), "BSP_TOKEN_STORE": "memory"}
    done = run_bsp(env, "platform", "serve", "--port", "0", "--public-url", "ftp://x/y?z")
    assert done.returncode == 2, done.stderr
    assert "Adresse publique invalide" in done.stderr
    assert "Plateforme servie" not in done.stdout


async def test_a_room_behind_the_proxy_is_under_the_public_url_and_its_prefix(
    tmp_path: Path,
) -> None:
    clock = Clock()
    settings = PlatformSettings(tmp_path / "platform.sqlite3", clock=clock, public_url=PUBLIC)
    app = create_app(settings)
    rooms = app.state.rooms
    room = rooms.open(rooms.add("salle-b"))
    base = f"{PUBLIC}/rooms/salle-b"
    transport = httpx.ASGITransport(app=behind_proxy(app, "/salle"))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=base) as http:
            discovery = (await http.get(f"{REALM}/.well-known/openid-configuration")).json()
            assert discovery["issuer"] == base + REALM
            assert discovery["token_endpoint"].startswith(base + REALM + "/")
            # The phone's device proofs name the room's public path: the sign-in goes through.
            tokens = await sign_in(http, room, clock)
            claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
            assert claims["iss"] == base + REALM
            login = await http.get(
                "/wallet/auth",
                params={
                    "client_id": LAUNCHER,
                    "redirect_uri": "http://127.0.0.1:8765/callback",
                    "response_type": "code",
                    "scope": "openid scope_all",
                    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                    "code_challenge_method": "S256",
                },
            )
            assert 'action="/salle/rooms/salle-b/wallet/auth/login"' in login.text
            assert "Path=/salle/rooms/salle-b/wallet" in login.headers["set-cookie"]
    finally:
        room.db.close()
