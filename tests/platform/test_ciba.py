"""CIBA poll mode, as PSC does it, in process."""

from __future__ import annotations

import pytest

from tests.conftest import CIBA_GRANT, LAUNCHER, TOKEN, Emulation

pytestmark = pytest.mark.anyio


async def test_ciba_sign_in_gives_two_factor_tokens(emu: Emulation) -> None:
    started = await emu.start_ciba("generaliste", binding="37")
    assert started.status_code == 200
    body = started.json()
    assert set(body) == {"auth_req_id", "expires_in", "interval"}
    phone = await emu.phone_requests("generaliste")
    assert [(r["binding"], r["client_name"]) for r in phone] == [("37", "Lanceur bsp")]

    pending = await emu.poll_ciba(body["auth_req_id"])
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"

    await emu.approve_pending("generaliste")
    tokens = await emu.poll_ciba(body["auth_req_id"])
    assert tokens.status_code == 200
    assert {"access_token", "id_token", "refresh_token", "expires_in"} <= set(tokens.json())
    assert tokens.json()["expires_in"] == 120

    again = await emu.poll_ciba(body["auth_req_id"])
    assert again.json()["error"] == "invalid_grant"


async def test_polling_faster_than_interval_is_slow_down(emu: Emulation) -> None:
    auth_req_id = (await emu.start_ciba("infirmier")).json()["auth_req_id"]
    data = {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id, "client_id": LAUNCHER}
    first = await emu.http.post(TOKEN, data=data)
    second = await emu.http.post(TOKEN, data=data)
    assert first.json()["error"] == "authorization_pending"
    assert second.json()["error"] == "slow_down"
    emu.clock.advance(2)
    # The interval grew by 5 s after slow_down: 2 s later is still too fast.
    assert (await emu.http.post(TOKEN, data=data)).json()["error"] == "slow_down"


async def test_expired_auth_req_id(emu: Emulation) -> None:
    auth_req_id = (await emu.start_ciba("pharmacien")).json()["auth_req_id"]
    emu.clock.advance(121)
    response = await emu.poll_ciba(auth_req_id)
    assert response.status_code == 400
    assert response.json()["error"] == "expired_token"


async def test_denied_on_the_phone_reaches_the_client_as_access_denied(emu: Emulation) -> None:
    auth_req_id = (await emu.start_ciba("urgentiste")).json()["auth_req_id"]
    denied = await emu.answer(await emu.pending_id("urgentiste"), "urgentiste", approve=False)
    assert denied.json()["status"] == "denied"
    response = await emu.poll_ciba(auth_req_id)
    assert response.json() == {
        "error": "access_denied",
        "error_description": "Connexion refusée sur l'e-CPS.",
    }


@pytest.mark.parametrize(
    ("extra", "error", "description"),
    [
        ({"binding_message": "7"}, "invalid_binding_message", "nombre à 2 chiffres"),
        ({"binding_message": "abc"}, "invalid_binding_message", "nombre à 2 chiffres"),
        ({"login_hint": "810000012300"}, "unknown_user_id", "clé de contrôle"),
        ({"login_hint": "899999999999"}, "unknown_user_id", "clé de contrôle"),
        ({"login_hint": "812345678903"}, "unknown_user_id", "Aucun professionnel"),
        # A structure's staff member (5 + SIRET / internal id): well formed, not in the directory.
        ({"login_hint": "512345678901234/SEC01"}, "unknown_user_id", "Aucun professionnel"),
        ({"login_hint": "512345678901234"}, "unknown_user_id", "5 + SIRET + /"),
        ({"scope": "profile"}, "invalid_scope", "openid"),
        ({"acr_values": "eidas2"}, "invalid_request", "eidas1"),
        ({"channel": "CARD"}, "invalid_request", "MOBILE"),
    ],
)
async def test_bad_ciba_requests(emu: Emulation, extra: dict, error: str, description: str) -> None:
    response = await emu.start_ciba("generaliste", **extra)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert description in response.json()["error_description"]


async def test_unknown_client_is_invalid_client(emu: Emulation) -> None:
    response = await emu.start_ciba("generaliste", client_id="nobody")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
