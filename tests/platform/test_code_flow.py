"""Authorization code + PKCE (S256) through the wallet pages, loopback redirect (RFC 8252)."""

from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import LAUNCHER, OIDC, TOKEN, Emulation, pkce_pair

pytestmark = pytest.mark.anyio

AUTH = "/wallet/auth"
LOOPBACK = "http://127.0.0.1:53127/callback"
CABINET = "cabinet-app"
CABINET_REDIRECT = "https://cabinet.example/cb"


def authorize_params(
    challenge: str | None, redirect_uri: str = LOOPBACK, client_id: str = LAUNCHER, **extra: str
) -> dict:
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "openid scope_all",
        "state": "st-123",
        "nonce": "n-456",
        "acr_values": "eidas1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    } | extra
    return {key: value for key, value in params.items() if value is not None}


def tx_of(page: httpx.Response) -> str:
    found = re.search(r'<input type="hidden" name="tx" value="([^"]+)">', page.text)
    assert found, page.text
    return found.group(1)


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'<input type="hidden" name="csrf" value="([^"]+)">', page.text)
    assert found, page.text
    return found.group(1)


def binding_on(page: httpx.Response) -> str:
    found = re.search(r'<p class="binding">(\d\d)</p>', page.text)
    assert found, page.text
    return found.group(1)


def query_of(response: httpx.Response) -> dict[str, str]:
    """The parameters of a redirect's Location."""
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


async def login(emu: Emulation, name: str, **params: str | None) -> str:
    """Open the login page and give the persona's national id; returns the transaction."""
    page = await emu.http.get(AUTH, params=authorize_params(**params))
    assert page.status_code == 200, page.text
    tx = tx_of(page)
    national_id = emu.persona(name)["national_id"]
    waiting = await emu.http.post(
        f"{AUTH}/login", data={"tx": tx, "national_id": national_id, "csrf": csrf_of(page)}
    )
    assert waiting.status_code == 200, waiting.text
    return tx


async def wait(emu: Emulation, tx: str) -> httpx.Response:
    return await emu.http.get(f"{AUTH}/wait", params={"tx": tx})


async def get_code(
    emu: Emulation, name: str = "generaliste", redirect_uri: str = LOOPBACK, **params: str | None
) -> tuple[str, str]:
    """Run the browser side up to the redirect; returns (code, verifier)."""
    verifier, challenge = pkce_pair()
    tx = await login(emu, name, challenge=challenge, redirect_uri=redirect_uri, **params)
    await emu.approve_pending(name)
    back = await wait(emu, tx)
    assert back.headers["location"].startswith(redirect_uri + "?")
    query = query_of(back)
    assert query["state"] == "st-123"
    return query["code"], verifier


async def redeem(
    emu: Emulation,
    code: str,
    verifier: str | None,
    redirect_uri: str | None = LOOPBACK,
    client_id: str | None = LAUNCHER,
    **kwargs: object,
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": client_id,
    }
    data = {key: value for key, value in data.items() if value is not None}
    return await emu.http.post(TOKEN, data=data, **kwargs)


async def id_claims(emu: Emulation, id_token: str) -> dict:
    """The ID token's claims, verified against the platform's JWKS."""
    jwks = KeySet.import_key_set((await emu.http.get(f"{OIDC}/certs")).json())
    return jwt.decode(id_token, jwks, algorithms=["RS256"]).claims


def assert_invalid_grant(response: httpx.Response, phrase: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"
    assert phrase in response.json()["error_description"]


# -- the happy path ------------------------------------------------------------------


async def test_code_flow_with_pkce_on_a_loopback_port(emu: Emulation) -> None:
    verifier, challenge = pkce_pair()
    page = await emu.http.get(AUTH, params=authorize_params(challenge))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    tx = tx_of(page)

    national_id = emu.persona("generaliste")["national_id"]
    waiting = await emu.http.post(
        f"{AUTH}/login", data={"tx": tx, "national_id": national_id, "csrf": csrf_of(page)}
    )
    assert waiting.status_code == 200
    binding = binding_on(waiting)
    phone = await emu.phone_requests("generaliste")
    assert [r["binding"] for r in phone] == [binding]

    still = await wait(emu, tx)
    assert still.status_code == 200
    assert binding_on(still) == binding

    await emu.approve_pending("generaliste")
    back = await wait(emu, tx)
    assert back.status_code == 302
    assert back.headers["location"].startswith(LOOPBACK + "?")
    query = query_of(back)
    assert query["state"] == "st-123"

    tokens = await redeem(emu, query["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    assert {"access_token", "id_token", "refresh_token", "expires_in"} <= set(tokens.json())
    claims = await id_claims(emu, tokens.json()["id_token"])
    assert claims["nonce"] == "n-456"
    assert claims["acr"] == "eidas1"
    assert claims["aud"] == LAUNCHER
    assert claims["preferred_username"] == national_id


async def test_the_port_less_registration_itself_is_accepted(emu: Emulation) -> None:
    code, verifier = await get_code(emu, redirect_uri="http://127.0.0.1/callback")
    tokens = await redeem(emu, code, verifier, redirect_uri="http://127.0.0.1/callback")
    assert tokens.status_code == 200


async def test_bad_national_id_on_the_login_page(emu: Emulation) -> None:
    _, challenge = pkce_pair()
    form = await emu.http.get(AUTH, params=authorize_params(challenge))
    tx = tx_of(form)
    page = await emu.http.post(
        f"{AUTH}/login", data={"tx": tx, "national_id": "810000012300", "csrf": csrf_of(form)}
    )
    assert page.status_code == 400
    assert "La clé de contrôle du numéro RPPS est fausse" in page.text
    assert tx_of(page) == tx


async def test_unknown_transaction_on_the_login_page(emu: Emulation) -> None:
    _, challenge = pkce_pair()
    csrf = csrf_of(await emu.http.get(AUTH, params=authorize_params(challenge)))
    national_id = emu.persona("generaliste")["national_id"]
    page = await emu.http.post(
        f"{AUTH}/login", data={"tx": "nope", "national_id": national_id, "csrf": csrf}
    )
    assert page.status_code == 400
    assert "Cette connexion a expiré" in page.text


# -- requests refused before any redirect ---------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "redirect_uri", "phrase"),
    [
        ("nobody", LOOPBACK, "Logiciel client inconnu."),
        (LAUNCHER, "http://evil.example/callback", "Adresse de retour non enregistrée"),
        (LAUNCHER, "http://127.0.0.1:5000/other", "Adresse de retour non enregistrée"),
        (LAUNCHER, "http://localhost:5000/callback", "Adresse de retour non enregistrée"),
        (LAUNCHER, "https://127.0.0.1:5000/callback", "Adresse de retour non enregistrée"),
        (LAUNCHER, "http://127.0.0.1:5000/callback?x=1", "Adresse de retour non enregistrée"),
        (LAUNCHER, "http://127.0.0.1:5000@evil.example/callback", "Adresse de retour"),
        (CABINET, "https://cabinet.example:8443/cb", "Adresse de retour non enregistrée"),
    ],
)
async def test_no_redirect_to_an_unknown_place(
    emu: Emulation, client_id: str, redirect_uri: str, phrase: str
) -> None:
    emu.platform.clients.add(CABINET, [CABINET_REDIRECT])
    _, challenge = pkce_pair()
    params = authorize_params(challenge, redirect_uri=redirect_uri, client_id=client_id)
    page = await emu.http.get(AUTH, params=params)
    assert page.status_code == 400
    assert "location" not in page.headers
    assert phrase in page.text


async def test_missing_redirect_uri_is_a_page(emu: Emulation) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    del params["redirect_uri"]
    page = await emu.http.get(AUTH, params=params)
    assert page.status_code == 400
    assert "location" not in page.headers


# -- errors sent back to the client ----------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "error", "phrase"),
    [
        ({"code_challenge": None}, "invalid_request", "code_challenge manquant"),
        ({"code_challenge_method": "plain"}, "invalid_request", "S256"),
        ({"code_challenge_method": None}, "invalid_request", "S256"),
        ({"code_challenge": "too-short"}, "invalid_request", "mal formé"),
        ({"response_type": "token"}, "unsupported_response_type", "response_type=code"),
        ({"scope": "profile"}, "invalid_scope", "openid"),
        ({"acr_values": "eidas2"}, "invalid_request", "eidas1"),
    ],
)
async def test_bad_requests_go_back_to_the_client(
    emu: Emulation, extra: dict, error: str, phrase: str
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    for key, value in extra.items():
        if value is None:
            del params[key]
        else:
            params[key] = value
    response = await emu.http.get(AUTH, params=params)
    assert response.headers["location"].startswith(LOOPBACK + "?")
    query = query_of(response)
    assert query["error"] == error
    assert phrase in query["error_description"]
    assert query["state"] == "st-123"
    assert "code" not in query


async def test_denied_on_the_phone_goes_back_as_access_denied(emu: Emulation) -> None:
    _, challenge = pkce_pair()
    tx = await login(emu, "urgentiste", challenge=challenge)
    await emu.answer(await emu.pending_id("urgentiste"), "urgentiste", approve=False)
    query = query_of(await wait(emu, tx))
    assert query == {
        "error": "access_denied",
        "error_description": "Connexion refusée sur l'e-CPS.",
        "state": "st-123",
    }


# -- the token endpoint ----------------------------------------------------------------


async def test_wrong_code_verifier(emu: Emulation) -> None:
    code, _ = await get_code(emu)
    other, _ = pkce_pair()
    assert_invalid_grant(await redeem(emu, code, other), "ne correspond pas")


async def test_missing_code_verifier(emu: Emulation) -> None:
    code, _ = await get_code(emu)
    assert_invalid_grant(await redeem(emu, code, None), "code_verifier manquant")


async def test_a_failed_verifier_does_not_spend_the_code_for_its_owner(emu: Emulation) -> None:
    code, verifier = await get_code(emu)
    assert_invalid_grant(await redeem(emu, code, pkce_pair()[0]), "ne correspond pas")
    assert (await redeem(emu, code, verifier)).status_code == 200


async def test_a_code_serves_once(emu: Emulation) -> None:
    code, verifier = await get_code(emu)
    assert (await redeem(emu, code, verifier)).status_code == 200
    assert_invalid_grant(await redeem(emu, code, verifier), "déjà utilisé")


async def test_a_code_expires_after_a_minute(emu: Emulation) -> None:
    code, verifier = await get_code(emu)
    emu.clock.advance(61)
    assert_invalid_grant(await redeem(emu, code, verifier), "expiré")


async def test_redirect_uri_must_match_the_request(emu: Emulation) -> None:
    code, verifier = await get_code(emu)
    other_port = "http://127.0.0.1:53128/callback"
    assert_invalid_grant(await redeem(emu, code, verifier, redirect_uri=other_port), "redirect_uri")
    no_redirect = await redeem(emu, code, verifier, redirect_uri=None)
    assert_invalid_grant(no_redirect, "redirect_uri")


async def test_unknown_code(emu: Emulation) -> None:
    _, verifier = pkce_pair()
    assert_invalid_grant(await redeem(emu, secrets.token_urlsafe(32), verifier), "inconnu")


async def test_the_wallet_transaction_ends_with_the_code(emu: Emulation) -> None:
    verifier, challenge = pkce_pair()
    tx = await login(emu, "generaliste", challenge=challenge)
    await emu.approve_pending("generaliste")
    code = query_of(await wait(emu, tx))["code"]
    assert (await redeem(emu, code, verifier)).status_code == 200
    after = await wait(emu, tx)
    assert after.status_code == 400
    assert "location" not in after.headers


async def test_reloading_the_wallet_page_mints_no_second_code(emu: Emulation) -> None:
    verifier, challenge = pkce_pair()
    tx = await login(emu, "generaliste", challenge=challenge)
    await emu.approve_pending("generaliste")
    code = query_of(await wait(emu, tx))["code"]
    reload = await wait(emu, tx)
    assert reload.status_code == 400
    assert "Cette connexion est terminée" in reload.text
    assert "location" not in reload.headers
    assert (await redeem(emu, code, verifier)).status_code == 200


# -- a third-party confidential client ---------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_confidential_client(emu: Emulation, method: str) -> None:
    secret = emu.platform.clients.add(CABINET, [CABINET_REDIRECT])
    code, verifier = await get_code(emu, redirect_uri=CABINET_REDIRECT, client_id=CABINET)
    if method == "client_secret_basic":
        response = await redeem(
            emu, code, verifier, CABINET_REDIRECT, client_id=None, auth=(CABINET, secret)
        )
    else:
        response = await emu.http.post(
            TOKEN,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CABINET_REDIRECT,
                "code_verifier": verifier,
                "client_id": CABINET,
                "client_secret": secret,
            },
        )
    assert response.status_code == 200, response.text
    claims = await id_claims(emu, response.json()["id_token"])
    assert claims["aud"] == CABINET
    assert claims["azp"] == CABINET


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "none"])
async def test_confidential_client_needs_its_secret(emu: Emulation, method: str) -> None:
    emu.platform.clients.add(CABINET, [CABINET_REDIRECT])
    code, verifier = await get_code(emu, redirect_uri=CABINET_REDIRECT, client_id=CABINET)
    if method == "client_secret_basic":
        response = await redeem(
            emu, code, verifier, CABINET_REDIRECT, client_id=None, auth=(CABINET, "wrong")
        )
    elif method == "client_secret_post":
        response = await emu.http.post(
            TOKEN,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CABINET_REDIRECT,
                "code_verifier": verifier,
                "client_id": CABINET,
                "client_secret": "wrong",
            },
        )
    else:
        response = await redeem(emu, code, verifier, CABINET_REDIRECT, client_id=CABINET)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == 'Basic realm="esante-wallet"'


async def test_a_code_is_bound_to_its_client(emu: Emulation) -> None:
    secret = emu.platform.clients.add(CABINET, [LOOPBACK])
    code, verifier = await get_code(emu)
    response = await redeem(emu, code, verifier, client_id=None, auth=(CABINET, secret))
    assert_invalid_grant(response, "autre client")
