"""Forged or misused tokens are refused everywhere a bearer token is accepted.

Three doors: userinfo (a PSC access token), a service (`/api/ins/me`, an API token) and
token exchange (a PSC access token as `subject_token`). Each forgery starts from a
genuine token of the right kind and breaks one thing. Then signing key rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from bsp_tui.platform.core import Platform
from tests.conftest import LAUNCHER, OIDC, Emulation

pytestmark = pytest.mark.anyio

USERINFO = f"{OIDC}/userinfo"
CERTS = f"{OIDC}/certs"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unb64json(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def claims_of(token: str) -> dict:
    return unb64json(token.split(".")[1])


def header_of(token: str) -> dict:
    return unb64json(token.split(".")[0])


def sign_rs256(claims: dict, key: RSAKey, kid: str, **header: object) -> str:
    return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"} | header, claims, key)


# -- the forgeries: each takes the emulation, the sign-in response and a genuine token ----

Forgery = Callable[[Emulation, dict, str], str]


def alg_none(emu: Emulation, tokens: dict, genuine: str) -> str:
    header = {"alg": "none", "typ": "JWT"}
    return f"{b64json(header)}.{b64json(claims_of(genuine))}."


def alg_none_with_kid(emu: Emulation, tokens: dict, genuine: str) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": header_of(genuine)["kid"]}
    return f"{b64json(header)}.{b64json(claims_of(genuine))}.{genuine.split('.')[2]}"


def hs256_with_public_key(emu: Emulation, tokens: dict, genuine: str) -> str:
    """The algorithm confusion attack: HMAC keyed with the published public key."""
    public_pem = emu.platform.keys.active().as_pem(private=False)
    header = {"alg": "HS256", "typ": "JWT", "kid": header_of(genuine)["kid"]}
    signing_input = f"{b64json(header)}.{b64json(claims_of(genuine))}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def foreign_key_with_real_kid(emu: Emulation, tokens: dict, genuine: str) -> str:
    foreign = RSAKey.generate_key(2048, private=True)
    return sign_rs256(claims_of(genuine), foreign, header_of(genuine)["kid"])


def foreign_key_embedded_in_header(emu: Emulation, tokens: dict, genuine: str) -> str:
    """The key is carried by the token itself (`jwk`, `jku`): a verifier must ignore it."""
    foreign = RSAKey.generate_key(2048, private=True)
    return sign_rs256(
        claims_of(genuine),
        foreign,
        "attacker",
        jwk=foreign.as_dict(private=False),
        jku="https://evil.example/certs",
    )


def wrong_issuer(emu: Emulation, tokens: dict, genuine: str) -> str:
    key = emu.platform.keys.active()
    claims = claims_of(genuine) | {"iss": "https://evil.example/auth/realms/esante-wallet"}
    return sign_rs256(claims, key, key.kid)


def expired(emu: Emulation, tokens: dict, genuine: str) -> str:
    settings = emu.platform.settings
    ttl = settings.api_token_ttl if "aud" in claims_of(genuine) else settings.psc_access_ttl
    emu.clock.advance(ttl + 1)
    return genuine


def id_token_as_access_token(emu: Emulation, tokens: dict, genuine: str) -> str:
    return tokens["id_token"]


def tampered_payload(emu: Emulation, tokens: dict, genuine: str) -> str:
    """Someone else's national id in a genuinely signed token."""
    header, _, signature = genuine.split(".")
    other = emu.persona("urgentiste")["national_id"]
    claims = claims_of(genuine) | {"preferred_username": other, "SubjectNameID": other}
    return f"{header}.{b64json(claims)}.{signature}"


def extended_lifetime(emu: Emulation, tokens: dict, genuine: str) -> str:
    header, _, signature = genuine.split(".")
    claims = claims_of(genuine)
    claims["exp"] += 365 * 24 * 3600
    return f"{header}.{b64json(claims)}.{signature}"


FORGERIES: dict[str, tuple[Forgery, str]] = {
    "alg_none": (alg_none, "signature invalide"),
    "alg_none_with_kid": (alg_none_with_kid, "signature invalide"),
    "hs256_with_public_key": (hs256_with_public_key, "signature invalide"),
    "foreign_key_with_real_kid": (foreign_key_with_real_kid, "signature invalide"),
    "foreign_key_embedded_in_header": (foreign_key_embedded_in_header, "signature invalide"),
    "wrong_issuer": (wrong_issuer, "émetteur inattendu"),
    "expired": (expired, "jeton expiré"),
    "id_token_as_access_token": (id_token_as_access_token, "type de jeton inattendu"),
    "tampered_payload": (tampered_payload, "signature invalide"),
    "extended_lifetime": (extended_lifetime, "signature invalide"),
}


async def genuine_tokens(emu: Emulation) -> tuple[dict, str, str]:
    """A sign-in response, its PSC access token and an API token for INSi."""
    tokens = await emu.sign_in("generaliste")
    exchanged = await emu.exchange(tokens["access_token"], "ins")
    assert exchanged.status_code == 200, exchanged.text
    return tokens, tokens["access_token"], exchanged.json()["access_token"]


def assert_token_not_echoed(response: httpx.Response, token: str) -> None:
    assert token not in response.text
    for segment in token.split("."):
        if len(segment) > 16:
            assert segment not in response.text


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_forged_token_is_refused_at_userinfo(emu: Emulation, name: str) -> None:
    forge, phrase = FORGERIES[name]
    tokens, access, _ = await genuine_tokens(emu)
    assert (await emu.http.get(USERINFO, headers={"Authorization": f"Bearer {access}"})).is_success
    forged = forge(emu, tokens, access)

    response = await emu.http.get(USERINFO, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert phrase in response.json()["error_description"]
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert_token_not_echoed(response, forged)


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_forged_token_is_refused_by_a_service(emu: Emulation, name: str) -> None:
    forge, phrase = FORGERIES[name]
    if name == "id_token_as_access_token":
        # An ID token is for the launcher (aud bsp-launcher), not for INSi.
        phrase = "inattendu"
    tokens, _, api = await genuine_tokens(emu)
    assert (
        await emu.http.get("/api/ins/me", headers={"Authorization": f"Bearer {api}"})
    ).is_success
    forged = forge(emu, tokens, api)

    response = await emu.http.get("/api/ins/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "login"
    assert phrase in body["issue"][0]["diagnostics"]
    assert_token_not_echoed(response, forged)


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_forged_token_is_refused_by_token_exchange(emu: Emulation, name: str) -> None:
    forge, phrase = FORGERIES[name]
    tokens, access, _ = await genuine_tokens(emu)
    forged = forge(emu, tokens, access)

    response = await emu.exchange(forged, "dmp")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["error_description"].startswith("Jeton PSC refusé")
    assert phrase in response.json()["error_description"]
    assert_token_not_echoed(response, forged)


async def test_tampered_aud_does_not_move_an_api_token_to_another_service(
    emu: Emulation,
) -> None:
    _, _, api = await genuine_tokens(emu)
    header, _, signature = api.split(".")
    moved = f"{header}.{b64json(claims_of(api) | {'aud': 'dmp'})}.{signature}"
    response = await emu.http.get("/api/dmp/me", headers={"Authorization": f"Bearer {moved}"})
    assert response.status_code == 401
    assert "signature invalide" in response.json()["issue"][0]["diagnostics"]


async def test_token_signed_by_the_platform_for_an_unknown_session_is_refused(
    emu: Emulation,
) -> None:
    """Even the platform's own key cannot conjure a session that does not exist."""
    _, access, _ = await genuine_tokens(emu)
    key = emu.platform.keys.active()
    forged = sign_rs256(claims_of(access) | {"sid": "no-such-session"}, key, key.kid)
    response = await emu.http.get(USERINFO, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert "session inconnue" in response.json()["error_description"]


@pytest.mark.parametrize(
    "garbage", ["", "abc", "a.b.c", "...", "e30.e30.e30", "Zm9v.YmFy.YmF6", "é.é.é"]
)
async def test_malformed_bearer_tokens(emu: Emulation, garbage: str) -> None:
    headers = {"Authorization": f"Bearer {garbage}".encode()}  # bytes: non-ASCII goes too
    response = await emu.http.get(USERINFO, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    service = await emu.http.get("/api/ins/me", headers=headers)
    assert service.status_code == 401
    assert service.json()["resourceType"] == "OperationOutcome"
    if garbage:
        exchange = await emu.exchange(garbage, "ins")
        assert exchange.status_code == 400
        assert exchange.json()["error"] == "invalid_grant"


# -- signing key rotation ------------------------------------------------------------------


async def jwks_kids(emu: Emulation) -> list[str]:
    response = await emu.http.get(CERTS)
    assert response.status_code == 200
    keys = response.json()["keys"]
    for key in keys:
        assert key["kty"] == "RSA"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private parts published"
    return sorted(key["kid"] for key in keys)


async def test_rotation_keeps_old_tokens_verifying_until_they_expire(emu: Emulation) -> None:
    _, access, api = await genuine_tokens(emu)
    old_key = emu.platform.keys.active()
    assert header_of(access)["kid"] == old_key.kid
    assert await jwks_kids(emu) == [old_key.kid]

    new_kid = emu.platform.keys.rotate()
    assert new_kid != old_key.kid
    assert await jwks_kids(emu) == sorted([old_key.kid, new_kid])

    # Tokens signed before the rotation still verify.
    bearer = {"Authorization": f"Bearer {access}"}
    assert (await emu.http.get(USERINFO, headers=bearer)).status_code == 200
    api_bearer = {"Authorization": f"Bearer {api}"}
    assert (await emu.http.get("/api/ins/me", headers=api_bearer)).status_code == 200
    assert (await emu.exchange(access, "fse")).status_code == 200

    # New tokens are signed with the new key.
    fresh = await emu.sign_in("infirmier")
    assert header_of(fresh["access_token"])["kid"] == new_kid
    assert header_of(fresh["id_token"])["kid"] == new_kid

    # Beyond the longest lifetime, the old key is gone and so is everything it signed.
    emu.clock.advance(emu.platform.settings.longest_token_ttl + 1)
    assert await jwks_kids(emu) == [new_kid]
    assert (await emu.http.get("/api/ins/me", headers=api_bearer)).status_code == 401

    # A token with fresh claims but the retired key's signature is refused…
    live = await emu.sign_in("generaliste")
    claims = claims_of(live["access_token"])
    with_old_key = sign_rs256(claims, old_key, old_key.kid)
    response = await emu.http.get(USERINFO, headers={"Authorization": f"Bearer {with_old_key}"})
    assert response.status_code == 401
    assert "signature invalide" in response.json()["error_description"]
    assert (await emu.exchange(with_old_key, "ins")).json()["error"] == "invalid_grant"
    # …while the same claims under the active key pass (the key is the only difference).
    active = emu.platform.keys.active()
    with_new_key = sign_rs256(claims, active, active.kid)
    bearer = {"Authorization": f"Bearer {with_new_key}"}
    assert (await emu.http.get(USERINFO, headers=bearer)).status_code == 200


async def test_two_rotations_keep_every_key_still_needed(emu: Emulation) -> None:
    first = emu.platform.keys.active().kid
    emu.clock.advance(60)
    second = emu.platform.keys.rotate()
    emu.clock.advance(60)
    third = emu.platform.keys.rotate()
    assert await jwks_kids(emu) == sorted([first, second, third])
    emu.clock.advance(emu.platform.settings.longest_token_ttl - 60 + 1)
    # `first` retired 120 s ago + TTL: gone; `second` retired 60 s later: still there.
    assert await jwks_kids(emu) == sorted([second, third])
    emu.clock.advance(60)
    assert await jwks_kids(emu) == [third]


async def test_launcher_identity_is_not_a_secret_that_signs(emu: Emulation) -> None:
    """A token HMAC-signed with the client id (a public string) is refused too."""
    _, access, _ = await genuine_tokens(emu)
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = f"{b64json(header)}.{b64json(claims_of(access))}"
    signature = hmac.new(LAUNCHER.encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64url(signature)}"
    response = await emu.http.get(USERINFO, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert "signature invalide" in response.json()["error_description"]


async def test_a_key_another_worker_made_verifies_at_once(emu: Emulation) -> None:
    _, access, _ = await genuine_tokens(emu)
    bearer = {"Authorization": f"Bearer {access}"}
    assert (await emu.http.get(USERINFO, headers=bearer)).status_code == 200  # keys read
    # Another worker over the same database rotates and signs with its new key.
    other = Platform.open(emu.platform.settings, emu.platform.db)
    new_kid = other.keys.rotate()
    signed = sign_rs256(claims_of(access), other.keys.active(), new_kid)
    response = await emu.http.get(USERINFO, headers={"Authorization": f"Bearer {signed}"})
    assert response.status_code == 200, response.text
