"""Every sign-in flow, end to end, against `bsp platform serve` in a subprocess.

The test process is the relying party (httpx to the served URL); the professional's
phone is `bsp phone approve` in another subprocess, with a home of its own, so that
it can only reach the platform over HTTP. Each flow uses its own persona: a TOTP
step's code serves once per persona.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bsp_tui.platform.core import audiences
from tests.conftest import (
    ACCESS_TYPE,
    CIBA,
    DEVICE_GRANT,
    EXCHANGE_GRANT,
    LAUNCHER,
    OIDC,
    TOKEN,
    pkce_pair,
)
from tests.e2e.conftest import (
    REALM,
    Poller,
    ServedPlatform,
    bsp_env,
    ciba_poller,
    ciba_sign_in,
    phone_approve,
    run_bsp,
    start_ciba,
    start_platform,
    verify_id_token,
)

pytestmark = pytest.mark.e2e

BINDING = re.compile(r'class="binding">(\d{2})<')


def assert_two_factor_tokens(
    http: httpx.Client, served: ServedPlatform, tokens: dict, persona: dict
) -> dict:
    """The token response of a sign-in: checked ID token, userinfo of the right person."""
    assert {"access_token", "id_token", "refresh_token"} <= set(tokens)
    assert tokens["token_type"] == "Bearer"
    claims = verify_id_token(http, served, tokens["id_token"])
    assert claims["acr"] == "eidas1"
    assert claims["preferred_username"] == persona["national_id"]
    userinfo = http.get(
        f"{OIDC}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["SubjectNameID"] == persona["national_id"]
    return claims


def test_the_printed_address_answers_at_once(served: ServedPlatform, http: httpx.Client) -> None:
    index = http.get("/")
    assert index.status_code == 200
    assert index.json()["psc"]["issuer"] == served.issuer
    discovery = http.get(f"{REALM}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == f"http://127.0.0.1:{served.port}{REALM}"
    endpoints = [v for k, v in discovery.items() if k.endswith("_endpoint")]
    assert endpoints
    assert all(url.startswith(served.url + "/") for url in endpoints)
    stdout, _ = served.output()
    assert f"Émetteur PSC : {served.issuer}" in stdout


def test_ciba_sign_in(
    served: ServedPlatform, http: httpx.Client, personas: dict[str, dict]
) -> None:
    persona = personas["generaliste"]
    started = start_ciba(http, persona, binding="37")
    assert set(started) == {"auth_req_id", "expires_in", "interval"}
    assert started["interval"] == 1  # BSP_POLL_INTERVAL of the served platform
    poller = ciba_poller(http, started)
    pending = poller.once()
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"

    approved = phone_approve(served, persona)
    assert approved.returncode == 0, approved.stderr
    answer = json.loads(approved.stdout)
    assert answer["binding"] == "37"
    assert answer["client"] == "Lanceur bsp"
    assert answer["outcome"] == "approved"

    tokens = poller.until_done()
    assert tokens.status_code == 200, tokens.text
    assert_two_factor_tokens(http, served, tokens.json(), persona)
    # The auth_req_id served once.
    assert poller.once().json()["error"] == "invalid_grant"


def test_device_grant_sign_in(
    served: ServedPlatform, http: httpx.Client, personas: dict[str, dict]
) -> None:
    persona = personas["urgentiste"]
    started = http.post(
        f"{OIDC}/auth/device", data={"client_id": LAUNCHER, "scope": "openid scope_all"}
    )
    assert started.status_code == 200, started.text
    device = started.json()
    assert device["verification_uri"] == f"{served.issuer}/device"
    poller = Poller(
        http,
        {"grant_type": DEVICE_GRANT, "device_code": device["device_code"], "client_id": LAUNCHER},
        device["interval"],
    )
    assert poller.once().json()["error"] == "authorization_pending"

    # The person types the user code on the verification page, in a browser.
    page = http.post(
        device["verification_uri"],
        data={"user_code": device["user_code"], "national_id": persona["national_id"]},
    )
    assert page.status_code == 200, page.text
    binding = BINDING.search(page.text)
    assert binding, page.text

    approved = phone_approve(served, persona)
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["binding"] == binding.group(1)

    tokens = poller.until_done()
    assert tokens.status_code == 200, tokens.text
    assert_two_factor_tokens(http, served, tokens.json(), persona)


def test_authorization_code_with_pkce_sign_in(
    served: ServedPlatform, http: httpx.Client, personas: dict[str, dict]
) -> None:
    persona = personas["pharmacien"]
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    # The launcher's loopback listener (RFC 8252): only its address matters here.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        redirect_uri = f"http://127.0.0.1:{listener.getsockname()[1]}/callback"

    form = http.get(
        "/wallet/auth",
        params={
            "client_id": LAUNCHER,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "openid scope_all",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "acr_values": "eidas1",
        },
    )
    assert form.status_code == 200, form.text
    tx = re.search(r'name="tx" value="([^"]+)"', form.text)
    assert tx, form.text

    waiting = http.post(
        "/wallet/auth/login",
        data={
            "tx": tx.group(1),
            "national_id": persona["national_id"],
            "csrf": re.search(r'name="csrf" value="([^"]+)"', form.text).group(1),
        },
    )
    assert waiting.status_code == 200, waiting.text
    binding = BINDING.search(waiting.text)
    assert binding, waiting.text
    still = http.get("/wallet/auth/wait", params={"tx": tx.group(1)})
    assert still.status_code == 200
    assert binding.group(1) in still.text

    approved = phone_approve(served, persona)
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["binding"] == binding.group(1)

    # The phone has answered when its command returns: the next look is the redirect.
    back = http.get("/wallet/auth/wait", params={"tx": tx.group(1)})
    assert back.status_code == 302, back.text
    location = urlsplit(back.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == [state]

    exchange = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": LAUNCHER,
    }
    tokens = http.post(TOKEN, data=exchange)
    assert tokens.status_code == 200, tokens.text
    claims = assert_two_factor_tokens(http, served, tokens.json(), persona)
    assert claims["nonce"] == nonce
    assert http.post(TOKEN, data=exchange).json()["error"] == "invalid_grant"


def test_denied_on_the_phone(
    served: ServedPlatform, http: httpx.Client, personas: dict[str, dict]
) -> None:
    persona = personas["secretaire"]
    poller = ciba_poller(http, start_ciba(http, persona, binding="64"))
    denied = phone_approve(served, persona, deny=True)
    assert denied.returncode == 0, denied.stderr
    assert json.loads(denied.stdout)["outcome"] == "denied"
    response = poller.until_done()
    assert response.status_code == 400
    assert response.json()["error"] == "access_denied"


def test_exchange_to_every_service_then_logout_refuses_every_token(
    served: ServedPlatform, http: httpx.Client, personas: dict[str, dict]
) -> None:
    persona = personas["infirmier"]
    tokens = ciba_sign_in(served, http, persona)

    api_tokens = {}
    for audience in audiences():
        exchanged = http.post(
            TOKEN,
            data={
                "grant_type": EXCHANGE_GRANT,
                "subject_token": tokens["access_token"],
                "subject_token_type": ACCESS_TYPE,
                "audience": audience,
                "client_id": LAUNCHER,
            },
        )
        assert exchanged.status_code == 200, exchanged.text
        api_tokens[audience] = exchanged.json()["access_token"]
        me = http.get(
            f"/api/{audience}/me", headers={"Authorization": f"Bearer {api_tokens[audience]}"}
        )
        assert me.status_code == 200, me.text
        assert me.json()["service"] == audience
        assert me.json()["national_id"] == persona["national_id"]
        assert me.json()["acr"] == "eidas1"
    # An API token is bound to its service.
    wrong = http.get("/api/dmp/me", headers={"Authorization": f"Bearer {api_tokens['ins']}"})
    assert wrong.status_code == 401

    logout = http.get(f"{OIDC}/logout", params={"id_token_hint": tokens["id_token"]})
    assert logout.status_code == 200, logout.text

    userinfo = http.get(
        f"{OIDC}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401
    refreshed = http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": LAUNCHER,
        },
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    for audience, api_token in api_tokens.items():
        me = http.get(f"/api/{audience}/me", headers={"Authorization": f"Bearer {api_token}"})
        assert me.status_code == 401, f"{audience} still accepts its token after logout"
    again = http.post(
        TOKEN,
        data={
            "grant_type": EXCHANGE_GRANT,
            "subject_token": tokens["access_token"],
            "subject_token_type": ACCESS_TYPE,
            "audience": "dmp",
            "client_id": LAUNCHER,
        },
    )
    assert again.json()["error"] == "invalid_grant"
    # A resource server (a confidential client the trainer registered) asks.
    added = http.post("/demo/clients", json={"client_id": "serveur-dmp"}, headers=served.trainer)
    assert added.status_code == 201, added.text
    introspected = http.post(
        f"{OIDC}/token/introspect",
        data={"token": tokens["access_token"]},
        auth=("serveur-dmp", added.json()["client_secret"]),
    )
    assert introspected.json() == {"active": False}


def test_the_ciba_endpoint_is_the_one_discovery_names(
    served: ServedPlatform, http: httpx.Client
) -> None:
    discovery = http.get(f"{REALM}/.well-known/wallet-openid-configuration").json()
    assert discovery["backchannel_authentication_endpoint"] == served.url + CIBA
    assert discovery["token_endpoint"] == served.url + TOKEN


# -- the trainer token ---------------------------------------------------------------------


def test_serve_prints_its_trainer_token_once_and_never_logs_it(
    served: ServedPlatform, http: httpx.Client
) -> None:
    stdout, _ = served.output()
    lines = [line for line in stdout.splitlines() if line.startswith("Jeton formateur")]
    assert lines == [f"Jeton formateur (affiché une seule fois) : {served.trainer_token}"]
    assert len(served.trainer_token) >= 43
    assert http.put("/demo/faults", json={"latency_ms": 10_000}).status_code == 401
    assert http.put("/demo/faults", json={}, headers=served.trainer).status_code == 200
    log = (served.home / "logs" / "platform.log").read_text(encoding="utf-8")
    access = [json.loads(line) for line in log.splitlines()]
    refused = {"method": "PUT", "path": "/demo/faults", "status": 401}.items()
    assert any(refused <= line.items() for line in access)
    assert served.trainer_token not in log


def test_serve_takes_the_trainer_token_from_the_environment(tmp_path) -> None:
    given = secrets.token_urlsafe(32)
    other = start_platform(tmp_path, env={"BSP_TRAINER_TOKEN": given})
    try:
        with httpx.Client(base_url=other.url, timeout=15) as http:
            bearer = {"Authorization": f"Bearer {given}"}
            assert http.get("/demo/faults", headers=bearer).status_code == 200
            assert http.get("/demo/faults").status_code == 401
    finally:
        stdout, _ = other.stop()
    assert given not in stdout
    assert "Jeton formateur : celui de BSP_TRAINER_TOKEN." in stdout


def test_a_phone_not_enrolled_on_a_served_platform_says_how_to_enrol(
    served: ServedPlatform, personas: dict, tmp_path
) -> None:
    env = bsp_env(tmp_path / "new-phone", BSP_PLATFORM_URL=served.url)
    pin = personas["generaliste"]["pin"]
    result = run_bsp("phone", "approve", "--persona", "generaliste", "--pin", pin, env=env)
    assert result.returncode == 4
    assert "n'est pas enrôlé" in result.stderr
    assert "bsp phone enrol --persona NOM --code CODE" in result.stderr
    enrol = run_bsp("phone", "enrol", "--persona", "generaliste", env=env)
    assert enrol.returncode == 2
    assert "code d'activation est nécessaire" in enrol.stderr


def test_the_trainer_prints_the_cards_from_another_machine_with_the_token(
    served: ServedPlatform, personas: dict, tmp_path
) -> None:
    trainer = bsp_env(
        tmp_path / "trainer", BSP_PLATFORM_URL=served.url, BSP_TRAINER_TOKEN=served.trainer_token
    )
    listed = run_bsp("platform", "personas", "--json", env=trainer)
    assert listed.returncode == 0, listed.stderr
    assert {p["name"]: p["pin"] for p in json.loads(listed.stdout)} == {
        name: p["pin"] for name, p in personas.items()
    }
    output = tmp_path / "cartes.html"
    cards = run_bsp("platform", "cards", "--copies", "2", "--output", str(output), env=trainer)
    assert cards.returncode == 0, cards.stderr
    codes = re.findall(r"--code ([A-Z2-9-]{14})", output.read_text(encoding="utf-8"))
    assert len(set(codes)) == 10
    # A trainee enrols with one of them, over HTTP from a third home.
    enrolled = run_bsp(
        "phone",
        "enrol",
        "--persona",
        "infirmier",
        "--code",
        codes[6],
        env=bsp_env(tmp_path / "trainee", BSP_PLATFORM_URL=served.url),
    )
    assert enrolled.returncode == 0, enrolled.stderr
    wrong = trainer | {"BSP_TRAINER_TOKEN": "pas-le-bon"}
    refused = run_bsp("platform", "personas", env=wrong)
    assert refused.returncode == 4
    assert "Jeton formateur refusé" in refused.stderr
    assert refused.stdout == ""
