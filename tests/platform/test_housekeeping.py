"""Housekeeping: after a long run, the tables hold the live rows only."""

from __future__ import annotations

import pytest

from bsp_tui.platform import housekeeping
from tests.conftest import LAUNCHER, OIDC, TOKEN, Emulation

pytestmark = pytest.mark.anyio
TABLES = (
    "pending_grants",
    "ecps_requests",
    "ecps_proofs",
    "revoked_tokens",
    "sessions",
    "refresh_tokens",
)


def counts(emu: Emulation) -> dict[str, int]:
    db = emu.platform.db
    return {t: db.value(f"SELECT count(*) FROM {t}") for t in TABLES}  # noqa: S608


async def signed_in_once(emu: Emulation, index: int) -> dict:
    """A sign-in; every third one refreshed, every fifth revoked, every seventh ended."""
    tokens = await emu.sign_in()
    if index % 3 == 0:
        refreshed = await emu.http.post(
            TOKEN,
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": LAUNCHER,
            },
        )
        assert refreshed.status_code == 200, refreshed.text
        tokens = refreshed.json()
    if index % 5 == 0:
        revoke = {"token": tokens["access_token"], "client_id": LAUNCHER}
        assert (await emu.http.post(f"{OIDC}/revoke", data=revoke)).status_code == 200
    if index % 7 == 0:
        ended = await emu.http.get(f"{OIDC}/logout", params={"id_token_hint": tokens["id_token"]})
        assert ended.status_code == 200
    return tokens


async def test_dead_rows_are_purged_and_live_ones_kept(emu: Emulation) -> None:
    settings = emu.platform.settings
    for index in range(12):
        await signed_in_once(emu, index)
        emu.clock.advance(90)  # past the next purge's due time: purges run on the way
    grown = counts(emu)
    assert grown["sessions"] == 12 and grown["refresh_tokens"] == 16
    assert grown["revoked_tokens"] == 3 and grown["pending_grants"] == 12

    # Long enough for every token of those sessions to be dead, and their retention.
    emu.clock.advance(
        settings.psc_refresh_ttl
        + settings.psc_access_ttl
        + settings.longest_token_ttl
        + housekeeping.RETAIN_SECONDS
    )
    live = await signed_in_once(emu, 1)
    assert counts(emu) == {
        "pending_grants": 1,
        "ecps_requests": 1,
        "ecps_proofs": 2,  # the phone's listing and answer of the live sign-in
        "revoked_tokens": 0,
        "sessions": 1,
        "refresh_tokens": 1,
    }
    # The live session still works after the purge.
    refreshed = await emu.http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": live["refresh_token"],
            "client_id": LAUNCHER,
        },
    )
    assert refreshed.status_code == 200, refreshed.text


async def test_one_purge_a_minute_whatever_the_workers(emu: Emulation) -> None:
    db, settings = emu.platform.db, emu.platform.settings
    await emu.sign_in()
    # A second worker (or process) over the same database: the first purge of this
    # minute is done (by the request above), the next one is due in a minute.
    assert housekeeping.purge(db, settings) is None
    emu.clock.advance(housekeeping.EVERY_SECONDS)
    assert housekeeping.purge(db, settings) is not None
    assert housekeeping.purge(db, settings) is None


async def test_a_revoked_token_stays_refused_until_it_expires(emu: Emulation) -> None:
    access = (await emu.sign_in())["access_token"]
    exchanged = await emu.exchange(access, "ins")
    api_token = exchanged.json()["access_token"]
    revoke = {"token": api_token, "client_id": LAUNCHER}
    assert (await emu.http.post(f"{OIDC}/revoke", data=revoke)).status_code == 200
    emu.clock.advance(emu.platform.settings.api_token_ttl - 60)  # retention long past
    assert housekeeping.purge(emu.platform.db, emu.platform.settings, force=True) is not None
    bearer = {"Authorization": f"Bearer {api_token}"}
    refused = await emu.http.get("/api/ins/me", headers=bearer)
    assert refused.status_code == 401 and "révoqué" in refused.text
