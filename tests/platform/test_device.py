"""The device authorization grant (RFC 8628): user code, verification page, polling."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import DEVICE_GRANT, ISSUER, LAUNCHER, OIDC, TOKEN, Emulation

pytestmark = pytest.mark.anyio

DEVICE_AUTH = f"{OIDC}/auth/device"
VERIFICATION = "/auth/realms/esante-wallet/device"


async def start(emu: Emulation) -> dict:
    response = await emu.http.post(
        DEVICE_AUTH, data={"client_id": LAUNCHER, "scope": "openid scope_all"}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def poll(emu: Emulation, device_code: str, advance: float = 5) -> httpx.Response:
    emu.clock.advance(advance)
    return await emu.http.post(
        TOKEN, data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": LAUNCHER}
    )


async def submit(emu: Emulation, user_code: str, national_id: str) -> httpx.Response:
    """The person fills the verification page's form."""
    return await emu.http.post(
        VERIFICATION, data={"user_code": user_code, "national_id": national_id}
    )


def binding_on(page: httpx.Response) -> str:
    found = re.search(r'<p class="binding">(\d\d)</p>', page.text)
    assert found, page.text
    return found.group(1)


async def test_device_authorization_response(emu: Emulation) -> None:
    body = await start(emu)
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", body["user_code"])
    assert body["verification_uri"] == f"{ISSUER}/device"
    assert body["verification_uri_complete"] == (f"{ISSUER}/device?user_code={body['user_code']}")
    assert body["expires_in"] == 600
    assert body["interval"] == 2
    assert len(body["device_code"]) >= 32


async def test_polling_before_the_code_is_entered_is_pending(emu: Emulation) -> None:
    body = await start(emu)
    response = await poll(emu, body["device_code"])
    assert response.status_code == 400
    assert response.json()["error"] == "authorization_pending"
    assert "saisie du code" in response.json()["error_description"]


async def test_verification_page(emu: Emulation) -> None:
    body = await start(emu)
    plain = await emu.http.get(VERIFICATION)
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/html")
    assert 'name="user_code"' in plain.text
    assert 'name="national_id"' in plain.text

    complete = await emu.http.get(body["verification_uri_complete"])
    assert complete.status_code == 200
    assert f'value="{body["user_code"]}"' in complete.text


async def test_full_device_sign_in(emu: Emulation) -> None:
    body = await start(emu)
    national_id = emu.persona("generaliste")["national_id"]
    page = await submit(emu, body["user_code"], national_id)
    assert page.status_code == 200
    binding = binding_on(page)
    phone = await emu.phone_requests("generaliste")
    assert [(r["binding"], r["client_name"]) for r in phone] == [(binding, "Lanceur bsp")]

    pending = await poll(emu, body["device_code"])
    assert pending.json()["error"] == "authorization_pending"
    assert "e-CPS" in pending.json()["error_description"]

    await emu.approve_pending("generaliste")
    tokens = await poll(emu, body["device_code"])
    assert tokens.status_code == 200
    assert {"access_token", "id_token", "refresh_token", "expires_in"} <= set(tokens.json())

    again = await poll(emu, body["device_code"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("typed", [str.lower, lambda code: code.replace("-", "")])
async def test_user_code_is_forgiving_about_case_and_dash(emu: Emulation, typed) -> None:
    body = await start(emu)
    page = await submit(emu, typed(body["user_code"]), emu.persona("infirmier")["national_id"])
    assert page.status_code == 200
    binding_on(page)


async def test_unknown_user_code(emu: Emulation) -> None:
    await start(emu)
    page = await submit(emu, "AAAA-AAAA", emu.persona("infirmier")["national_id"])
    assert page.status_code == 400
    assert "Code inconnu ou expiré" in page.text
    assert await emu.phone_requests() == []


async def test_user_code_serves_once(emu: Emulation) -> None:
    body = await start(emu)
    national_id = emu.persona("pharmacien")["national_id"]
    assert (await submit(emu, body["user_code"], national_id)).status_code == 200
    second = await submit(emu, body["user_code"], national_id)
    assert second.status_code == 400
    assert "Ce code a déjà été utilisé." in second.text
    assert len(await emu.phone_requests()) == 1


async def test_bad_national_id_keeps_the_user_code(emu: Emulation) -> None:
    body = await start(emu)
    page = await submit(emu, body["user_code"], "810000012300")
    assert page.status_code == 400
    assert "La clé de contrôle du numéro RPPS est fausse" in page.text
    assert f'value="{body["user_code"]}"' in page.text
    # The code was not spent on the typo.
    retried = await submit(emu, body["user_code"], emu.persona("pharmacien")["national_id"])
    assert retried.status_code == 200


async def test_unknown_professional(emu: Emulation) -> None:
    body = await start(emu)
    page = await submit(emu, body["user_code"], "812345678903")
    assert page.status_code == 400
    assert "Aucun professionnel" in page.text


async def test_denied_on_the_phone(emu: Emulation) -> None:
    body = await start(emu)
    await submit(emu, body["user_code"], emu.persona("urgentiste")["national_id"])
    request_id = await emu.pending_id("urgentiste")
    await emu.answer(request_id, "urgentiste", approve=False)
    response = await poll(emu, body["device_code"])
    assert response.status_code == 400
    assert response.json() == {
        "error": "access_denied",
        "error_description": "Connexion refusée sur l'e-CPS.",
    }


async def test_polling_too_fast_is_slow_down(emu: Emulation) -> None:
    body = await start(emu)
    assert (await poll(emu, body["device_code"])).json()["error"] == "authorization_pending"
    fast = await poll(emu, body["device_code"], advance=1)
    assert fast.status_code == 400
    assert fast.json()["error"] == "slow_down"
    assert "7 s" in fast.json()["error_description"]
    assert (await poll(emu, body["device_code"], advance=7)).json()[
        "error"
    ] == "authorization_pending"


async def test_expired_device_code(emu: Emulation) -> None:
    body = await start(emu)
    response = await poll(emu, body["device_code"], advance=601)
    assert response.status_code == 400
    assert response.json()["error"] == "expired_token"
    page = await submit(emu, body["user_code"], emu.persona("generaliste")["national_id"])
    assert page.status_code == 400
    assert "Code inconnu ou expiré" in page.text


async def test_unanswered_ecps_request_expires_the_grant(emu: Emulation) -> None:
    body = await start(emu)
    await submit(emu, body["user_code"], emu.persona("generaliste")["national_id"])
    response = await poll(emu, body["device_code"], advance=121)
    assert response.status_code == 400
    assert response.json()["error"] == "expired_token"


async def test_device_code_of_another_client_is_refused(emu: Emulation) -> None:
    secret = emu.platform.clients.add("cabinet-app", ["https://cabinet.example/cb"])
    body = await start(emu)
    response = await emu.http.post(
        TOKEN,
        data={"grant_type": DEVICE_GRANT, "device_code": body["device_code"]},
        auth=("cabinet-app", secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_device_request_needs_openid_and_a_known_client(emu: Emulation) -> None:
    no_openid = await emu.http.post(DEVICE_AUTH, data={"client_id": LAUNCHER, "scope": "profile"})
    assert no_openid.status_code == 400
    assert no_openid.json()["error"] == "invalid_scope"
    unknown = await emu.http.post(DEVICE_AUTH, data={"client_id": "nobody", "scope": "openid"})
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "invalid_client"


async def test_the_page_escapes_what_it_is_given(emu: Emulation) -> None:
    page = await emu.http.get(VERIFICATION, params={"user_code": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text


async def test_a_locked_professional_is_told_on_the_page(emu: Emulation) -> None:
    started = await emu.start_ciba("secretaire")
    assert started.status_code == 200
    request_id = await emu.pending_id("secretaire")
    for _ in range(5):
        await emu.answer(request_id, "secretaire", pin="no")
    body = await start(emu)
    page = await submit(emu, body["user_code"], emu.persona("secretaire")["national_id"])
    assert page.status_code == 400
    assert "e-CPS verrouillée après 5 échecs : réessayez dans 15 min." in page.text
    assert (await poll(emu, body["device_code"])).json()["error"] == "authorization_pending"
