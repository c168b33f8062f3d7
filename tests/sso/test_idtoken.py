"""ID-token validation against the emulated PSC: real tokens pass, every forgery fails."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import RSAKey

from bsp_tui.sso.idtoken import LEEWAY, IdTokenError, validate_id_token
from bsp_tui.sso.provider import Provider
from tests.conftest import ISSUER, LAUNCHER, Emulation

pytestmark = pytest.mark.anyio

NOW = 1_900_000_000  # a fixed instant for crafted tokens (passed as `now=`)
NONCE = "n-0S6_WzA2Mj"


def at(instant: float) -> Callable[[], float]:
    return lambda: instant


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: object) -> str:
    return b64(json.dumps(value).encode())


def claims_for(**changes: object) -> dict:
    """Claims of a valid ID token at NOW; a change of None removes the claim."""
    claims = {
        "iss": ISSUER,
        "sub": "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:810002345678",
        "aud": LAUNCHER,
        "azp": LAUNCHER,
        "iat": NOW,
        "exp": NOW + 300,
        "acr": "eidas1",
        "nonce": NONCE,
        "typ": "ID",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def sign(key: RSAKey, claims: dict, kid: str | None = None) -> str:
    header = {"alg": "RS256", "kid": kid or key.kid, "typ": "JWT"}
    return jwt.encode(header, claims, key)


@pytest.fixture
def provider(emu: Emulation) -> Provider:
    return Provider(emu.http, ISSUER, LAUNCHER)


@pytest.fixture
def jwks_gets(emu: Emulation) -> list[str]:
    """The URLs of every JWKS request made through the platform's client."""
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path.endswith("/protocol/openid-connect/certs"):
            seen.append(str(request.url))

    emu.http.event_hooks["request"].append(record)
    return seen


@pytest.fixture
def key(emu: Emulation) -> RSAKey:
    """The platform's real signing key."""
    return emu.platform.keys.active()


async def check(provider: Provider, token: str, **kwargs: object) -> dict:
    options = {"nonce": NONCE, "acr": "eidas1", "now": at(NOW)} | kwargs
    return await validate_id_token(provider, token, **options)  # type: ignore[arg-type]


async def rejected(provider: Provider, token: str, **kwargs: object) -> str:
    with pytest.raises(IdTokenError) as caught:
        await check(provider, token, **kwargs)
    return caught.value.message


# -- tokens that pass ---------------------------------------------------------------


async def test_real_id_token_from_ciba_sign_in_is_accepted(
    emu: Emulation, provider: Provider
) -> None:
    tokens = await emu.sign_in("generaliste")
    claims = await validate_id_token(provider, tokens["id_token"], None, "eidas1", now=emu.clock)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == LAUNCHER
    assert claims["azp"] == LAUNCHER
    assert claims["acr"] == "eidas1"
    assert claims["sub"]
    assert claims["preferred_username"] == emu.persona("generaliste")["national_id"]


async def test_crafted_valid_token_is_accepted(provider: Provider, key: RSAKey) -> None:
    claims = await check(provider, sign(key, claims_for()))
    assert claims["nonce"] == NONCE
    assert claims["sub"] == claims_for()["sub"]


async def test_no_acr_asked_accepts_any_level(provider: Provider, key: RSAKey) -> None:
    claims = await check(provider, sign(key, claims_for(acr="eidas-low")), acr="")
    assert claims["acr"] == "eidas-low"


async def test_aud_list_with_matching_azp_is_accepted(provider: Provider, key: RSAKey) -> None:
    token = sign(key, claims_for(aud=[LAUNCHER, "dmp"], azp=LAUNCHER))
    assert (await check(provider, token))["aud"] == [LAUNCHER, "dmp"]


async def test_expired_within_leeway_is_accepted(provider: Provider, key: RSAKey) -> None:
    token = sign(key, claims_for(iat=NOW - 400, exp=NOW - LEEWAY + 5))
    assert (await check(provider, token))["exp"] == NOW - LEEWAY + 5


async def test_iat_slightly_ahead_within_leeway_is_accepted(
    provider: Provider, key: RSAKey
) -> None:
    token = sign(key, claims_for(iat=NOW + LEEWAY - 5))
    assert (await check(provider, token))["iat"] == NOW + LEEWAY - 5


# -- signature and keys -------------------------------------------------------------


async def test_wrong_signature_with_known_kid_is_refused(provider: Provider, key: RSAKey) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": key.kid})
    message = await rejected(provider, sign(impostor, claims_for(), kid=key.kid))
    assert "signature invalide" in message


async def test_unknown_kid_is_refused_after_exactly_one_refetch(
    provider: Provider, key: RSAKey, jwks_gets: list[str]
) -> None:
    await check(provider, sign(key, claims_for()))  # caches the JWKS
    assert len(jwks_gets) == 1
    stranger = RSAKey.generate_key(2048, parameters={"kid": "not-a-platform-key"})
    message = await rejected(provider, sign(stranger, claims_for()))
    assert "clé inconnue" in message
    assert len(jwks_gets) == 2  # one refetch, no more


async def test_rotation_after_caching_passes_thanks_to_the_refetch(
    emu: Emulation, provider: Provider, key: RSAKey, jwks_gets: list[str]
) -> None:
    await check(provider, sign(key, claims_for()))
    assert len(jwks_gets) == 1
    new_kid = emu.platform.keys.rotate()
    new_key = emu.platform.keys.active()
    assert new_key.kid == new_kid != key.kid
    claims = await check(provider, sign(new_key, claims_for()))
    assert claims["sub"] == claims_for()["sub"]
    assert len(jwks_gets) == 2
    # The refreshed set is cached: the next token needs no fetch.
    await check(provider, sign(new_key, claims_for()))
    assert len(jwks_gets) == 2


async def test_real_token_after_rotation_passes(
    emu: Emulation, provider: Provider, jwks_gets: list[str]
) -> None:
    first = await emu.sign_in("generaliste")
    await validate_id_token(provider, first["id_token"], None, "eidas1", now=emu.clock)
    emu.platform.keys.rotate()
    second = await emu.sign_in("generaliste")
    claims = await validate_id_token(provider, second["id_token"], None, "eidas1", now=emu.clock)
    assert claims["iss"] == ISSUER
    assert len(jwks_gets) == 2


async def test_alg_none_is_refused(provider: Provider, key: RSAKey) -> None:
    token = f"{b64json({'alg': 'none', 'kid': key.kid})}.{b64json(claims_for())}."
    assert "signature invalide" in await rejected(provider, token)


async def test_hs256_signed_with_the_public_key_is_refused(provider: Provider, key: RSAKey) -> None:
    # The classic confusion: HMAC keyed with the provider's public key, which anyone has.
    signing_input = f"{b64json({'alg': 'HS256', 'kid': key.kid})}.{b64json(claims_for())}"
    secret = key.as_pem(private=False)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert "signature invalide" in await rejected(provider, f"{signing_input}.{b64(mac)}")


async def test_hs256_with_any_secret_is_refused(provider: Provider, key: RSAKey) -> None:
    from joserfc.jwk import OctKey

    secret = OctKey.generate_key(256)
    token = jwt.encode({"alg": "HS256", "kid": key.kid}, claims_for(), secret, algorithms=["HS256"])
    assert "signature invalide" in await rejected(provider, token)


# -- claims -------------------------------------------------------------------------


async def test_wrong_issuer_is_refused(provider: Provider, key: RSAKey) -> None:
    token = sign(key, claims_for(iss="http://plateforme.bsp/auth/realms/autre"))
    assert "« iss »" in await rejected(provider, token)


async def test_wrong_audience_is_refused(provider: Provider, key: RSAKey) -> None:
    token = sign(key, claims_for(aud="another-client", azp=None))
    assert "« aud »" in await rejected(provider, token)


async def test_aud_list_without_azp_is_refused(provider: Provider, key: RSAKey) -> None:
    token = sign(key, claims_for(aud=[LAUNCHER, "dmp"], azp=None))
    assert "« azp »" in await rejected(provider, token)


async def test_aud_list_with_other_azp_is_refused(provider: Provider, key: RSAKey) -> None:
    token = sign(key, claims_for(aud=[LAUNCHER, "dmp"], azp="dmp"))
    assert "« azp »" in await rejected(provider, token)


async def test_single_aud_with_other_azp_is_refused(provider: Provider, key: RSAKey) -> None:
    token = sign(key, claims_for(azp="another-client"))
    assert "« azp »" in await rejected(provider, token)


async def test_expired_beyond_leeway_is_refused(provider: Provider, key: RSAKey) -> None:
    token = sign(key, claims_for(iat=NOW - 600, exp=NOW - LEEWAY - 5))
    assert "expiré" in await rejected(provider, token)


async def test_real_token_expires_on_the_provider_clock_plus_leeway(
    emu: Emulation, provider: Provider
) -> None:
    tokens = await emu.sign_in("generaliste")
    exp = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[1] + "=="))["exp"]
    await validate_id_token(provider, tokens["id_token"], None, "eidas1", now=at(exp + LEEWAY - 1))
    with pytest.raises(IdTokenError, match="expiré"):
        await validate_id_token(
            provider, tokens["id_token"], None, "eidas1", now=at(exp + LEEWAY + 1)
        )


async def test_iat_in_the_future_beyond_leeway_is_refused(provider: Provider, key: RSAKey) -> None:
    token = sign(key, claims_for(iat=NOW + LEEWAY + 30, exp=NOW + 900))
    message = await rejected(provider, token)
    assert "futur" in message
    assert "horloge" in message


async def test_missing_nonce_when_one_was_sent_is_refused(provider: Provider, key: RSAKey) -> None:
    assert "« nonce »" in await rejected(provider, sign(key, claims_for(nonce=None)))


async def test_different_nonce_is_refused(provider: Provider, key: RSAKey) -> None:
    assert "« nonce »" in await rejected(provider, sign(key, claims_for(nonce="replayed")))


async def test_nonce_not_checked_when_none_was_sent(provider: Provider, key: RSAKey) -> None:
    claims = await check(provider, sign(key, claims_for(nonce=None)), nonce=None)
    assert "nonce" not in claims


async def test_other_acr_than_asked_is_refused(provider: Provider, key: RSAKey) -> None:
    message = await rejected(provider, sign(key, claims_for(acr="eidas-low")))
    assert "niveau d'authentification" in message
    assert "'eidas-low'" in message
    assert "'eidas1'" in message


async def test_missing_acr_when_asked_is_refused(provider: Provider, key: RSAKey) -> None:
    message = await rejected(provider, sign(key, claims_for(acr=None)))
    assert "niveau d'authentification None au lieu de 'eidas1'" in message


@pytest.mark.parametrize("claim", ["sub", "iss", "aud", "exp", "iat"])
async def test_missing_essential_claim_is_refused(
    provider: Provider, key: RSAKey, claim: str
) -> None:
    message = await rejected(provider, sign(key, claims_for(**{claim: None})))
    assert f"« {claim} » manquant" in message


@pytest.mark.parametrize(
    ("claim", "value"),
    [("sub", ""), ("sub", 42), ("exp", "tomorrow"), ("iat", "now"), ("aud", [1, 2])],
)
async def test_malformed_claim_is_refused(
    provider: Provider, key: RSAKey, claim: str, value: object
) -> None:
    message = await rejected(provider, sign(key, claims_for(**{claim: value})))
    assert f"« {claim} »" in message


# -- garbage ------------------------------------------------------------------------


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=st.one_of(
        st.text(),
        st.lists(
            st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
        ).map(".".join),
    )
)
@example(text="")
@example(text="..")
@example(text="a.b.c")
@example(text=f"{b64json([])}.{b64json({})}.AA")
@example(text=f"{b64json({'alg': ['RS256']})}.e30.AA")
@example(text=f"{b64json({'alg': 'RS256', 'kid': {'a': 1}})}.e30.AA")
@example(text=f"{b64json({'alg': 'RS256', 'kid': 'x', 'crit': ['b64']})}.e30.AA")
@example(text=f"{b64json({'alg': 'RSA-OAEP', 'enc': 'A128GCM'})}.a.b.c.d")
async def test_garbage_only_ever_raises_id_token_error(provider: Provider, text: str) -> None:
    with pytest.raises(IdTokenError):
        await validate_id_token(provider, text, NONCE, "eidas1", now=time.time)
