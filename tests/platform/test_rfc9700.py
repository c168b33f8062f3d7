"""OAuth as RFC 9700 (the OAuth 2.0 Security BCP) asks: one test per finding of issue 12."""

from __future__ import annotations

import httpx
import pytest

from bsp_tui.platform.psc.wallet import CSRF_COOKIE
from tests.conftest import ACCESS_TYPE, EXCHANGE_GRANT, LAUNCHER, OIDC, TOKEN, Emulation, pkce_pair
from tests.platform.test_code_flow import (
    AUTH,
    LOOPBACK,
    authorize_params,
    csrf_of,
    get_code,
    redeem,
    tx_of,
)

pytestmark = pytest.mark.anyio

INTROSPECT = f"{OIDC}/token/introspect"
USERINFO = f"{OIDC}/userinfo"


def other_client_token(emu: Emulation, client_id: str = "rp-a") -> tuple[str, str]:
    """A PSC access token issued to another relying party; (token, that client's secret)."""
    secret = emu.platform.clients.add(client_id, ["https://rp-a.example/cb"])
    national_id = emu.persona("generaliste")["national_id"]
    sid = emu.platform.tokens.open_session(national_id, client_id, "openid", None, "MOBILE")
    issued = emu.platform.tokens.issue(sid, f"{emu.http.base_url}/auth/realms/esante-wallet")
    return issued["access_token"], secret


def exchange_form(subject_token: str, **client: str) -> dict:
    return {
        "grant_type": EXCHANGE_GRANT,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TYPE,
        "audience": "dmp",
    } | client


# -- token exchange and introspection ------------------------------------------------------


async def test_the_public_client_cannot_exchange_another_client_s_token(emu: Emulation) -> None:
    stolen, _ = other_client_token(emu)
    response = await emu.http.post(TOKEN, data=exchange_form(stolen, client_id=LAUNCHER))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "délivré à un autre client" in response.json()["error_description"]
    assert "access_token" not in response.json()


async def test_the_client_the_token_was_issued_to_may_exchange_it(emu: Emulation) -> None:
    token, secret = other_client_token(emu)
    response = await emu.http.post(TOKEN, data=exchange_form(token), auth=("rp-a", secret))
    assert response.status_code == 200, response.text
    # Without its secret, naming itself is not enough.
    spoofed = await emu.http.post(TOKEN, data=exchange_form(token, client_id="rp-a"))
    assert spoofed.status_code == 401


async def test_the_public_client_cannot_introspect(emu: Emulation) -> None:
    stolen, _ = other_client_token(emu)
    response = await emu.http.post(INTROSPECT, data={"token": stolen, "client_id": LAUNCHER})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    for claim in ("active", "sub", "sid"):
        assert claim not in response.json()


async def test_a_confidential_client_introspects(emu: Emulation) -> None:
    token, secret = other_client_token(emu)
    response = await emu.http.post(INTROSPECT, data={"token": token}, auth=("rp-a", secret))
    assert response.json()["active"] is True


# -- redirect URIs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loose",
    [
        "HTTP://127.0.0.1:53127/callback",
        "http://127.0.0.1:053127/callback",
        "http://127.0.0.1:0080/callback",
        " http://127.0.0.1:53127/callback",
        "http://127.0.0.1:53127/call\tback",
        "http://127.0.0.1:53127/callback\n",
        "http://127.0.0.1:53127/callback\r\nSet-Cookie: x=1",
        "http://127.0.0.1:53127/callback?next=evil",
        "http://127.0.0.1:53127/Callback",
        "http://127.0.0.1:99999/callback",
        "http://localhost:53127/callback",
    ],
)
async def test_a_redirect_uri_matches_exactly_or_is_refused(emu: Emulation, loose: str) -> None:
    _, challenge = pkce_pair()
    page = await emu.http.get(AUTH, params=authorize_params(challenge, redirect_uri=loose))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "Adresse de retour non enregistrée" in page.text


async def test_registering_a_loose_redirect_uri_is_refused(emu: Emulation) -> None:
    for loose in ("HTTP://x.example/cb", "https://x.example/c b", "https://x.example/cb\n"):
        with pytest.raises(ValueError, match="URI de redirection invalide"):
            emu.platform.clients.add("outil", [loose])


# -- code replay ---------------------------------------------------------------------------


async def test_a_replayed_code_revokes_what_its_first_use_issued(emu: Emulation) -> None:
    code, verifier = await get_code(emu)
    first = await redeem(emu, code, verifier)
    assert first.status_code == 200
    tokens = first.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await emu.http.get(USERINFO, headers=bearer)).status_code == 200
    replayed = await redeem(emu, code, verifier)
    assert replayed.status_code == 400
    assert (await emu.http.get(USERINFO, headers=bearer)).status_code == 401
    refreshed = await emu.http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": LAUNCHER,
        },
    )
    assert refreshed.status_code == 400


# -- the wallet pages ------------------------------------------------------------------------


async def test_the_login_form_needs_its_csrf_token(emu: Emulation) -> None:
    _, challenge = pkce_pair()
    form = await emu.http.get(AUTH, params=authorize_params(challenge))
    assert form.cookies[CSRF_COOKIE] == csrf_of(form)
    assert "samesite=strict" in form.headers["set-cookie"].lower()
    assert "httponly" in form.headers["set-cookie"].lower()
    national_id = emu.persona("generaliste")["national_id"]
    tx = tx_of(form)
    # Posted from elsewhere: the other site's page has neither the field nor our cookie.
    async with httpx.AsyncClient(
        transport=emu.http._transport, base_url=emu.http.base_url
    ) as other:
        for data in (
            {"tx": tx, "national_id": national_id},
            {"tx": tx, "national_id": national_id, "csrf": csrf_of(form)},
        ):
            refused = await other.post(f"{AUTH}/login", data=data)
            assert refused.status_code == 403
            assert "autre site" in refused.text
    # Our own browser without the field, or with another value, is refused too.
    for csrf in ("", "x" * 43):
        data = {"tx": tx, "national_id": national_id, "csrf": csrf}
        assert (await emu.http.post(f"{AUTH}/login", data=data)).status_code == 403
    assert emu.platform.ecps.pending() == []


@pytest.mark.parametrize(
    "path",
    [f"{AUTH}?client_id={LAUNCHER}&redirect_uri={LOOPBACK}", "/auth/realms/esante-wallet/device"],
)
async def test_html_pages_cannot_be_framed_or_sniffed(emu: Emulation, path: str) -> None:
    page = await emu.http.get(path, params={"response_type": "code", "code_challenge": "A" * 43})
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
