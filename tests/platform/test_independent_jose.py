"""The platform's tokens verify with another JOSE library, against the published JWKS.

The platform signs with joserfc; here PyJWT checks the result, as a third-party relying
party would. Also discovery (both paths) and the JSON index at `/`.

PyJWT checks `exp` and `iat` against the real time, and the test Clock starts at the real
time: this file never moves the clock beyond what a sign-in itself takes (35 s for the
e-CPS step and the poll), and `leeway(emu)` gives PyJWT exactly that drift (plus a margin).
"""

from __future__ import annotations

import base64
import hashlib
import time

import jwt
import pytest

from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from tests.conftest import (
    CIBA_GRANT,
    DEVICE_GRANT,
    EXCHANGE_GRANT,
    ISSUER,
    LAUNCHER,
    OIDC,
    Emulation,
)

pytestmark = pytest.mark.anyio

AUDIENCES = ("ins", "dmp", "eprescription", "fse")
WALLET_DISCOVERY = "/auth/realms/esante-wallet/.well-known/wallet-openid-configuration"
STANDARD_DISCOVERY = "/auth/realms/esante-wallet/.well-known/openid-configuration"


def leeway(emu: Emulation) -> float:
    """How far the test clock runs ahead of the real time (each sign-in moves it 35 s)."""
    return max(0.0, emu.clock() - time.time()) + 5


async def published_keys(emu: Emulation) -> jwt.PyJWKSet:
    response = await emu.http.get(f"{OIDC}/certs")
    assert response.status_code == 200
    return jwt.PyJWKSet.from_dict(response.json())


def key_for(keys: jwt.PyJWKSet, token: str) -> jwt.PyJWK:
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    return keys[header["kid"]]


async def test_id_token_verifies_with_pyjwt(emu: Emulation) -> None:
    tokens = await emu.sign_in("generaliste")
    keys = await published_keys(emu)
    claims = jwt.decode(
        tokens["id_token"],
        key_for(keys, tokens["id_token"]).key,
        algorithms=["RS256"],
        audience=LAUNCHER,
        issuer=ISSUER,
        leeway=leeway(emu),
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    assert claims["typ"] == "ID"
    assert claims["acr"] == "eidas1"
    assert claims["azp"] == LAUNCHER
    assert claims["preferred_username"] == emu.persona("generaliste")["national_id"]
    digest = hashlib.sha256(tokens["access_token"].encode("ascii")).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


async def test_id_token_for_another_client_or_issuer_is_refused_by_pyjwt(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    key = key_for(await published_keys(emu), tokens["id_token"]).key
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(
            tokens["id_token"],
            key,
            algorithms=["RS256"],
            audience="another-client",
            issuer=ISSUER,
            leeway=leeway(emu),
        )
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(
            tokens["id_token"],
            key,
            algorithms=["RS256"],
            audience=LAUNCHER,
            issuer="https://auth.esante.gouv.fr/auth/realms/esante-wallet",
            leeway=leeway(emu),
        )


async def test_access_token_verifies_with_pyjwt(emu: Emulation) -> None:
    tokens = await emu.sign_in("generaliste")
    keys = await published_keys(emu)
    claims = jwt.decode(
        tokens["access_token"],
        key_for(keys, tokens["access_token"]).key,
        algorithms=["RS256"],
        issuer=ISSUER,
        leeway=leeway(emu),
        options={"require": ["exp", "iat", "iss", "sub"]},
    )
    assert "aud" not in claims
    assert claims["typ"] == "Bearer"
    assert claims["authMode"] == "MOBILE"
    assert claims["exp"] - claims["iat"] == 120


@pytest.mark.parametrize("audience", AUDIENCES)
async def test_api_token_verifies_with_pyjwt_for_its_audience_only(
    emu: Emulation, audience: str
) -> None:
    tokens = await emu.sign_in("generaliste")
    exchanged = await emu.exchange(tokens["access_token"], audience)
    assert exchanged.status_code == 200, exchanged.text
    token = exchanged.json()["access_token"]
    key = key_for(await published_keys(emu), token).key
    claims = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=audience,
        issuer=ISSUER,
        leeway=leeway(emu),
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    assert claims["aud"] == audience
    assert claims["SubjectNameID"] == emu.persona("generaliste")["national_id"]
    assert claims["SubjectRole"] == ["10^1.2.250.1.213.1.1.5.5"]
    assert claims["exp"] - claims["iat"] == 4 * 3600
    for other in AUDIENCES:
        if other != audience:
            with pytest.raises(jwt.InvalidAudienceError):
                jwt.decode(
                    token,
                    key,
                    algorithms=["RS256"],
                    audience=other,
                    issuer=ISSUER,
                    leeway=leeway(emu),
                )


async def test_pyjwt_refuses_a_tampered_token(emu: Emulation) -> None:
    """The independent check is not vacuous: a changed payload fails it."""
    tokens = await emu.sign_in()
    header, payload, signature = tokens["access_token"].split(".")
    tampered = f"{header}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}"
    key = key_for(await published_keys(emu), tokens["access_token"]).key
    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(
            f"{tampered}.{signature}", key, algorithms=["RS256"], issuer=ISSUER, leeway=leeway(emu)
        )


async def test_pyjwt_verifies_tokens_signed_before_a_rotation(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    old_kid = jwt.get_unverified_header(tokens["id_token"])["kid"]
    new_kid = emu.platform.keys.rotate()
    after = await emu.sign_in("pharmacien")
    keys = await published_keys(emu)
    assert {key.key_id for key in keys.keys} == {old_kid, new_kid}
    for token in (tokens["id_token"], after["id_token"]):
        jwt.decode(
            token,
            key_for(keys, token).key,
            algorithms=["RS256"],
            audience=LAUNCHER,
            issuer=ISSUER,
            leeway=leeway(emu),
        )
    assert jwt.get_unverified_header(after["id_token"])["kid"] == new_kid


async def test_jwks_is_public_rsa_keys_for_signing(emu: Emulation) -> None:
    response = await emu.http.get(f"{OIDC}/certs")
    [key] = response.json()["keys"]
    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert key["alg"] == "RS256"
    assert {"n", "e", "kid"} <= set(key)
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


# -- discovery and the index ---------------------------------------------------------------


async def test_discovery_is_the_same_at_both_paths(emu: Emulation) -> None:
    wallet = await emu.http.get(WALLET_DISCOVERY)
    standard = await emu.http.get(STANDARD_DISCOVERY)
    assert wallet.status_code == standard.status_code == 200
    assert wallet.json() == standard.json()

    meta = wallet.json()
    endpoints = f"{ISSUER}/protocol/openid-connect"
    assert meta["issuer"] == ISSUER
    assert meta["token_endpoint"] == f"{endpoints}/token"
    assert meta["userinfo_endpoint"] == f"{endpoints}/userinfo"
    assert meta["jwks_uri"] == f"{endpoints}/certs"
    assert meta["end_session_endpoint"] == f"{endpoints}/logout"
    assert meta["introspection_endpoint"] == f"{endpoints}/token/introspect"
    assert meta["revocation_endpoint"] == f"{endpoints}/revoke"
    assert meta["backchannel_authentication_endpoint"] == f"{endpoints}/ext/ciba/auth"
    assert meta["device_authorization_endpoint"] == f"{endpoints}/auth/device"
    assert meta["authorization_endpoint"] == f"{EMBEDDED_BASE_URL}/wallet/auth"
    assert {
        "authorization_code",
        "refresh_token",
        CIBA_GRANT,
        DEVICE_GRANT,
        EXCHANGE_GRANT,
    } <= set(meta["grant_types_supported"])
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["acr_values_supported"] == ["eidas1"]
    assert "poll" in meta["backchannel_token_delivery_modes_supported"]
    assert {"openid", "scope_all"} <= set(meta["scopes_supported"])
    assert {"SubjectNameID", "SubjectRole", "SubjectRefPro", "otherIds"} <= set(
        meta["claims_supported"]
    )


async def test_discovery_jwks_uri_serves_the_keys_pyjwt_uses(emu: Emulation) -> None:
    meta = (await emu.http.get(WALLET_DISCOVERY)).json()
    response = await emu.http.get(meta["jwks_uri"])
    assert response.status_code == 200
    tokens = await emu.sign_in()
    keys = jwt.PyJWKSet.from_dict(response.json())
    claims = jwt.decode(
        tokens["id_token"],
        key_for(keys, tokens["id_token"]).key,
        algorithms=meta["id_token_signing_alg_values_supported"],
        audience=LAUNCHER,
        issuer=meta["issuer"],
        leeway=leeway(emu),
    )
    assert claims["iss"] == meta["issuer"]


async def test_discovery_follows_the_host_the_client_used(emu: Emulation) -> None:
    response = await emu.http.get(STANDARD_DISCOVERY, headers={"Host": "psc.example:8700"})
    meta = response.json()
    assert meta["issuer"] == "http://psc.example:8700/auth/realms/esante-wallet"
    assert meta["token_endpoint"].startswith("http://psc.example:8700/auth/realms/")


async def test_index_names_psc_and_the_services(emu: Emulation) -> None:
    response = await emu.http.get("/")
    assert response.status_code == 200
    index = response.json()
    assert index["psc"]["issuer"] == ISSUER
    assert index["psc"]["discovery"] == f"{ISSUER}/.well-known/wallet-openid-configuration"
    assert index["psc"]["openid_configuration"] == f"{ISSUER}/.well-known/openid-configuration"
    assert index["services"] == {name: f"{EMBEDDED_BASE_URL}/api/{name}/" for name in AUDIENCES}
    discovered = await emu.http.get(index["psc"]["discovery"])
    assert discovered.status_code == 200
    assert discovered.json()["issuer"] == index["psc"]["issuer"]
