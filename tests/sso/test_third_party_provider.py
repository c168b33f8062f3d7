"""Sign-in against an OpenID provider this project did not write (oidc-provider-mock),
run on loopback: the launcher needs only standard OIDC with the authorization-code flow."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import oidc_provider_mock
import pytest

from bsp_tui.launcher import open_session
from bsp_tui.sso.errors import SsoError
from bsp_tui.sso.idtoken import IdTokenError

pytestmark = pytest.mark.anyio
SUB = "claire.dupont@example.org"


@pytest.fixture
def provider_url() -> Iterator[str]:
    with oidc_provider_mock.run_server_in_thread(port=0) as server:
        url = f"http://localhost:{server.server_port}"
        claims = {"given_name": "Claire", "family_name": "Dupont", "email": SUB}
        assert httpx.put(f"{url}/users/{quote(SUB)}", json=claims).status_code == 204
        yield url


@pytest.fixture
def profile(provider_url: str, bsp_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    config = bsp_home / "config"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(
        "[profiles.hospital]\n"
        f'issuer = "{provider_url}"\n'
        'client_id = "bsp-hopital"\n'
        'flow = "browser"\n'
        'scope = "openid profile email"\n'
        'acr = ""\n'
        'token_store = "memory"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("BSP_PROFILE", "hospital")
    # The provider wants a confidential client: its secret travels by environment.
    monkeypatch.setenv("BSP_CLIENT_SECRET", secrets.token_urlsafe(24))
    return provider_url


def approve_in_browser(url: str) -> None:
    """What the person does in the provider's page: pick their account, authorise."""
    with httpx.Client() as browser:
        form = browser.get(url)
        assert form.status_code == 200
        back = browser.post(url, data={"sub": SUB})
        assert back.status_code == 302, back.text
        assert urlsplit(back.headers["location"]).hostname == "127.0.0.1"
        assert "code" in parse_qs(urlsplit(back.headers["location"]).query)
        browser.get(back.headers["location"])


async def test_sign_in_with_the_authorization_code_flow(profile: str) -> None:
    async with open_session() as session:
        assert not session.emulated
        record = await session.sign_in("browser", lambda _: None, opener=approve_in_browser)
        assert record["issuer"] == profile
        assert record["who"]["name"] == "Claire Dupont"
        assert (await session.status())["who"]["name"] == "Claire Dupont"
        access = await session.access_token()
        assert access
        with pytest.raises(SsoError, match="échange de jetons"):
            await session.connector_token("ins")
        assert await session.logout() is True


async def test_a_denied_authorization_is_a_plain_refusal(profile: str) -> None:
    def deny(url: str) -> None:
        with httpx.Client() as browser:
            back = browser.post(url, data={"action": "deny"})
            browser.get(back.headers["location"])

    async with open_session() as session:
        with pytest.raises(SsoError, match="Connexion refusée"):
            await session.sign_in("browser", lambda _: None, opener=deny)


async def test_an_assurance_level_the_provider_does_not_give_ends_the_sign_in(
    profile: str, bsp_home: Path
) -> None:
    config = bsp_home / "config" / "config.toml"
    config.write_text(config.read_text().replace('acr = ""', 'acr = "eidas1"'))
    async with open_session() as session:
        with pytest.raises(IdTokenError, match="niveau d'authentification"):
            await session.sign_in("browser", lambda _: None, opener=approve_in_browser)
        assert session.store.get("session") is None


def test_the_persona_shortcut_is_refused_against_another_provider(profile: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bsp_tui", "login", "--persona", "generaliste", "--pin", "0000"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "plateforme émulée" in result.stderr


async def test_a_code_without_our_state_is_refused(profile: str) -> None:
    def forged(url: str) -> None:
        with httpx.Client() as browser:
            back = browser.post(url, data={"sub": SUB})
            location = back.headers["location"].replace("state=", "state=forged")
            browser.get(location)

    async with open_session() as session:
        with pytest.raises(SsoError, match="state inattendu"):
            await session.sign_in("browser", lambda _: None, opener=forged)
        assert session.store.get("session") is None
