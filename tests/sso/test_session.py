"""The launcher's single sign-on session, in process, on the embedded platform."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import keyring
import pytest

from bsp_tui.launcher import open_session, virtual_phone
from bsp_tui.platform.core import Platform
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso import flows
from bsp_tui.sso.auth import ConnectorAuth
from bsp_tui.sso.errors import NoSessionError, ServiceRefusedError, UsageError
from bsp_tui.sso.session import Session
from connectors.base import registry
from tests.support.keyring_backend import FileKeyring

pytestmark = pytest.mark.anyio
AUDIENCES = [connector.audience for connector in registry()]
OIDC = "/auth/realms/esante-wallet/protocol/openid-connect"


@pytest.fixture
def shared_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A keyring of this test's own, as the OS keyring would be, shared by its sessions."""
    path = tmp_path / "keyring.json"
    monkeypatch.setenv("BSP_TEST_KEYRING", str(path))
    monkeypatch.setenv("BSP_POLL_INTERVAL", "1")
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    yield path
    keyring.set_keyring(previous)


@pytest.fixture
async def session(shared_keyring: Path) -> AsyncIterator[Session]:
    async with open_session() as opened:
        yield opened


def pin_of(name: str) -> str:
    platform = Platform.open(PlatformSettings.from_env())
    try:
        return platform.ecps.persona(name=name)["pin"]
    finally:
        platform.db.close()


async def sign_in(session: Session, name: str = "generaliste") -> list[flows.FlowEvent]:
    events: list[flows.FlowEvent] = []
    phone = virtual_phone(session.http)
    persona = await phone.persona(name)
    pin = pin_of(name)

    async def approve(binding: str) -> None:
        await phone.approve_binding(name, pin, binding)

    await session.sign_in("ciba", events.append, persona["national_id"], approve=approve)
    return events


def token_calls(session: Session) -> list[str]:
    """Record the grant type of every token-endpoint request the session makes."""
    calls: list[str] = []

    async def hook(request: httpx.Request) -> None:
        if request.url.path.endswith("/token"):
            calls.append(dict(httpx.QueryParams(request.content.decode()))["grant_type"])

    session.http.event_hooks["request"].append(hook)
    return calls


async def test_sign_in_once_and_every_connector_works(session: Session) -> None:
    events = await sign_in(session)
    binding = [e for e in events if isinstance(e, flows.Binding)]
    assert len(binding) == 1
    assert re.fullmatch(r"\d{2}", binding[0].number)
    status = await session.status(AUDIENCES)
    assert set(status["connectors"]) == {"ins", "dmp", "eprescription", "fse"}
    assert status["who"]["name"] == "Élise Martin-Dubois"
    assert status["who"]["profession"] == "Médecin"
    assert status["who"]["rpps"] == status["who"]["national_id"][1:]
    assert status["acr"] == "eidas1"
    assert status["store"] == "keyring"
    for audience in AUDIENCES:
        async with session.client_for(audience) as client:
            response = await client.get("/me")
        assert response.status_code == 200, response.text
        assert response.json()["national_id"] == status["who"]["national_id"]


async def test_another_process_reuses_the_session_without_any_exchange(
    session: Session,
) -> None:
    await sign_in(session)
    first = {a: await session.connector_token(a) for a in AUDIENCES}
    async with open_session() as other:
        calls = token_calls(other)
        again = {a: await other.connector_token(a) for a in AUDIENCES}
        assert (await other.status())["who"]["name"] == "Élise Martin-Dubois"
    assert again == first
    assert calls == []


async def test_an_expired_access_token_renews_silently(session: Session) -> None:
    await sign_in(session)
    before = session.store.get("session")["refresh_token"]
    access = session.store.get("access")
    session.store.put("access", access | {"expires_at": time.time() - 1})
    calls = token_calls(session)
    token = await session.connector_token("dmp")
    assert calls == ["refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"]
    assert session.store.get("session")["refresh_token"] != before
    async with session.client_for("dmp") as client:
        assert (await client.get("/me")).status_code == 200
    assert token == session.store.get("api:dmp")["token"]


async def test_min_valid_beyond_the_token_lifetime_is_refused(session: Session) -> None:
    await sign_in(session)
    with pytest.raises(UsageError, match="impossible de garantir 99999 s"):
        await session.connector_token("ins", min_valid=99_999)


async def test_a_refused_api_token_is_renewed_once_and_the_call_retried(
    session: Session,
) -> None:
    await sign_in(session)
    revoked = await session.connector_token("ins")
    response = await session.http.post(
        f"{OIDC}/revoke", data={"token": revoked, "client_id": "bsp-launcher"}
    )
    assert response.status_code == 200
    async with session.client_for("ins") as client:
        assert (await client.get("/me")).status_code == 200
    assert session.store.get("api:ins")["token"] != revoked


async def test_a_second_refusal_is_a_clear_error(session: Session) -> None:
    await sign_in(session)
    seen: list[str] = []

    def always_refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(401)

    transport = httpx.MockTransport(always_refuse)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://service", auth=ConnectorAuth(session, "fse")
    ) as client:
        with pytest.raises(ServiceRefusedError, match="refuse la session, même renouvelée"):
            await client.get("/me")
    assert len(seen) == 2
    assert seen[0] != seen[1]


async def test_a_session_ended_elsewhere_asks_to_sign_in_again(session: Session) -> None:
    await sign_in(session)
    refresh = session.store.get("session")["refresh_token"]
    await session.http.post(f"{OIDC}/revoke", data={"token": refresh, "client_id": "bsp-launcher"})
    access = session.store.get("access")
    session.store.put("access", access | {"expires_at": time.time() - 1})
    with pytest.raises(NoSessionError, match="bsp login"):
        await session.connector_token("ins")
    assert session.store.get("session") is None


async def test_logout_makes_every_earlier_token_useless(session: Session) -> None:
    await sign_in(session)
    api_tokens = {a: await session.connector_token(a) for a in AUDIENCES}
    access = session.store.get("access")["token"]
    assert set(session.store.get("session")["audiences"]) == set(AUDIENCES)
    assert await session.logout() is True
    for audience in AUDIENCES:
        assert session.store.get(f"api:{audience}") is None
    for audience, token in api_tokens.items():
        response = await session.http.get(
            f"/api/{audience}/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401
        assert response.json()["resourceType"] == "OperationOutcome"
    userinfo = await session.http.get(
        f"{OIDC}/userinfo", headers={"Authorization": f"Bearer {access}"}
    )
    assert userinfo.status_code == 401
    with pytest.raises(NoSessionError):
        await session.status()
    assert await session.logout() is False


async def test_device_flow_signs_in(session: Session) -> None:
    shown = asyncio.Event()
    events: list[flows.FlowEvent] = []

    def on_event(event: flows.FlowEvent) -> None:
        events.append(event)
        if isinstance(event, flows.UserCode):
            shown.set()

    async def the_professional() -> None:
        await shown.wait()
        code = next(e for e in events if isinstance(e, flows.UserCode))
        persona = await virtual_phone(session.http).persona("infirmier")
        page = await session.http.post(
            code.verification_uri,
            data={"user_code": code.code, "national_id": persona["national_id"]},
        )
        binding = re.search(r'class="binding">(\d\d)<', page.text).group(1)
        await virtual_phone(session.http).approve_binding("infirmier", pin_of("infirmier"), binding)

    helper = asyncio.create_task(the_professional())
    await session.sign_in("device", on_event)
    await helper
    assert (await session.status())["who"]["profession"] == "Infirmier"


async def test_browser_flow_signs_in_through_the_loopback_redirect(session: Session) -> None:
    loop = asyncio.get_running_loop()
    persona = await virtual_phone(session.http).persona("pharmacien")

    async def drive(url: str) -> None:
        login_page = await session.http.get(url)
        tx = re.search(r'name="tx" value="([^"]+)"', login_page.text).group(1)
        csrf = re.search(r'name="csrf" value="([^"]+)"', login_page.text).group(1)
        # The client keeps the form's cookie, as the browser would.
        waiting = await session.http.post(
            "/wallet/auth/login",
            data={"tx": tx, "national_id": persona["national_id"], "csrf": csrf},
        )
        binding = re.search(r'class="binding">(\d\d)<', waiting.text).group(1)
        await virtual_phone(session.http).approve_binding(
            "pharmacien", pin_of("pharmacien"), binding
        )
        back = await session.http.get("/wallet/auth/wait", params={"tx": tx})
        assert back.status_code == 302
        async with httpx.AsyncClient() as browser:
            delivered = await browser.get(back.headers["location"])
        assert "Connexion reçue" in delivered.text

    def opener(url: str) -> None:
        asyncio.run_coroutine_threadsafe(drive(url), loop).result(timeout=30)

    record = await session.sign_in("browser", lambda _: None, opener=opener)
    assert record["who"]["profession"] == "Pharmacien"
    assert record["acr"] == "eidas1"


async def test_an_audience_the_platform_does_not_serve_is_a_usage_error(
    session: Session,
) -> None:
    await sign_in(session)
    with pytest.raises(UsageError, match="Service inconnu de la plateforme : radiologie"):
        await session.connector_token("radiologie")


async def test_a_session_opened_without_the_composition_root_has_no_embedded_platform() -> None:
    from bsp_tui.sso.session import NO_EMBEDDED_PLATFORM, Session

    async with Session.open() as bare:  # sign-in alone: it never builds the platform
        with pytest.raises(UsageError) as refused:
            _ = bare.http
    assert refused.value.message == NO_EMBEDDED_PLATFORM
