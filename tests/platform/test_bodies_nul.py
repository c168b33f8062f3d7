"""A NUL character, which PostgreSQL cannot keep in text, is refused 400 on both
engines, wherever it comes: the path, the query, a JSON body or a form field."""

from __future__ import annotations

import pytest

from tests.conftest import TOKEN, Emulation

pytestmark = pytest.mark.anyio


async def test_a_nul_in_the_path_or_query_is_refused(emu: Emulation) -> None:
    token = (await emu.exchange((await emu.sign_in("generaliste"))["access_token"], "dmp")).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    for url in ("/api/dmp/DocumentReference/%00x", "/api/dmp/Patient?identifier=a%00b"):
        answer = await emu.http.get(url, headers=headers)
        assert answer.status_code == 400, url
        assert "caractère nul" in answer.json()["issue"][0]["diagnostics"]


async def test_a_nul_in_a_json_body_names_its_field(emu: Emulation) -> None:
    token = (await emu.exchange((await emu.sign_in("generaliste"))["access_token"], "ins")).json()
    answer = await emu.http.post(
        "/api/ins/lookup",
        json={"family": "MARTIN\u0000", "given": "JEAN", "sex": "M", "birthdate": "1980-01-01"},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert answer.status_code == 400
    assert answer.json()["issue"][0]["expression"] == ["family"]


async def test_a_nul_in_a_form_field_is_a_clear_oauth_error(emu: Emulation) -> None:
    answer = await emu.http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": "a", "client_id": "x\u0000"}
    )
    assert 400 <= answer.status_code < 500
    assert answer.json()["error"] in ("invalid_request", "invalid_client", "invalid_grant")
