"""A token found live is trusted for a moment without the database: until its session
ends or it is revoked in this process, or `LIVE_SECONDS` at most for an end no bell
announced (another process over the same SQLite file)."""

from __future__ import annotations

import httpx
import pytest

from bsp_tui.platform.psc import tokens as tokens_module
from bsp_tui.platform.psc.tokens import Tokens
from bsp_tui.platform.settings import PlatformSettings
from tests.conftest import Emulation

pytestmark = pytest.mark.anyio
OIDC = "/auth/realms/esante-wallet/protocol/openid-connect"
TRAITS = {"family": "MARTIN", "given": "JEAN-MARC", "sex": "M", "birthdate": "1962-04-17"}


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The process's monotonic clock, moved by the test."""
    now = [5000.0]
    monkeypatch.setattr(tokens_module.time, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sessions each database check of a token asked for."""
    asked: list[str] = []
    check = Tokens.verify_live

    def counted(self: Tokens, token: str, issuer: str, audience: str | None = None) -> dict:
        claims = check(self, token, issuer, audience)
        asked.append(claims["sid"])
        return claims

    monkeypatch.setattr(Tokens, "verify_live", counted)
    return asked


async def signed_in(emu: Emulation, audience: str = "ins") -> tuple[dict, str]:
    tokens = await emu.sign_in()
    response = await emu.exchange(tokens["access_token"], audience)
    assert response.status_code == 200, response.text
    return tokens, response.json()["access_token"]


async def lookup(emu: Emulation, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return await emu.http.post("/api/ins/lookup", json=TRAITS, headers=headers)


async def test_a_known_live_token_needs_no_database_read(
    emu: Emulation, monotonic: list[float], reads: list[str]
) -> None:
    _, token = await signed_in(emu)
    reads.clear()
    for _ in range(3):
        assert (await lookup(emu, token)).status_code == 200
    # None: the exchange found the session open as it issued the token.
    assert reads == []
    monotonic[0] += tokens_module.LIVE_SECONDS
    for _ in range(3):
        assert (await lookup(emu, token)).status_code == 200
    assert len(reads) == 1  # checked again once the moment has passed, then known again


async def test_an_end_no_bell_announced_is_seen_within_the_bound(
    emu: Emulation, monotonic: list[float]
) -> None:
    _, token = await signed_in(emu)
    assert (await lookup(emu, token)).status_code == 200
    with emu.platform.db.write() as tx:  # as another process over the same file: no ring
        tx.execute("UPDATE sessions SET ended = 1, end_reason = 'logout'")
    assert (await lookup(emu, token)).status_code == 200
    monotonic[0] += tokens_module.LIVE_SECONDS - 0.01
    assert (await lookup(emu, token)).status_code == 200
    monotonic[0] += 0.02
    refused = await lookup(emu, token)
    assert refused.status_code == 401
    assert "session de ce jeton est terminée" in refused.text


@pytest.mark.parametrize("how", ["logout", "revoke the token", "revoke the refresh token"])
async def test_an_end_in_this_process_is_seen_at_once(
    emu: Emulation, monotonic: list[float], how: str
) -> None:
    tokens, token = await signed_in(emu)
    assert (await lookup(emu, token)).status_code == 200  # known live from now on
    if how == "logout":
        response = await emu.http.post(f"{OIDC}/logout", data={"id_token_hint": tokens["id_token"]})
    else:
        revoked = token if how == "revoke the token" else tokens["refresh_token"]
        data = {"token": revoked, "client_id": "bsp-launcher"}
        response = await emu.http.post(f"{OIDC}/revoke", data=data)
    assert response.status_code == 200, response.text
    refused = await lookup(emu, token)
    assert refused.status_code == 401
    assert "révoqué" in refused.text or "terminée" in refused.text


async def test_a_reset_ends_the_tokens_known_live(emu: Emulation, monotonic: list[float]) -> None:
    _, token = await signed_in(emu)
    assert (await lookup(emu, token)).status_code == 200
    emu.platform.reset()
    assert (await lookup(emu, token)).status_code == 401


async def test_a_known_token_is_still_checked_for_its_audience_and_expiry(
    emu: Emulation, settings: PlatformSettings, monotonic: list[float]
) -> None:
    _, ins = await signed_in(emu)
    assert (await lookup(emu, ins)).status_code == 200
    headers = {"Authorization": f"Bearer {ins}"}
    elsewhere = await emu.http.get("/api/dmp/Patient", headers=headers)
    assert elsewhere.status_code == 401
    assert "audience" in elsewhere.text
    emu.clock.advance(settings.api_token_ttl + 1)
    expired = await lookup(emu, ins)
    assert expired.status_code == 401
    assert "expiré" in expired.text
