"""A CIBA or device poll that finds its e-CPS request pending is held until the
professional answers (long polling), up to the grant's interval: the launcher has its
tokens the moment the phone approves, not at its next poll, and a held poll holds no
thread. Every wait here is an ordering (something waits on a bell) bounded by DEADLINE.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx
import pytest

from bsp_tui.platform import bell
from bsp_tui.platform.bell import BELL
from bsp_tui.platform.psc import flows
from bsp_tui.platform.settings import PlatformSettings
from tests.conftest import CIBA_GRANT, DEVICE_GRANT, LAUNCHER, TOKEN, Emulation
from tests.platform.test_phone_push import DEADLINE, until_waiting

# `engine` named here: the `settings` below hides the shared one's own fixtures from
# pytest's parametrizing, and these tests run on both engines.
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("engine")]


@pytest.fixture
def settings(settings: PlatformSettings, monkeypatch: pytest.MonkeyPatch) -> PlatformSettings:
    """Held polls on a long interval; a held poll that missed its bell would wait far
    beyond DEADLINE (no look again every few seconds, no end of the hold at 5 s)."""
    monkeypatch.setattr(bell, "RECHECK_SECONDS", 10 * DEADLINE)
    monkeypatch.setattr(flows, "_LONGEST_HOLD", 10 * DEADLINE)
    return dataclasses.replace(
        settings, long_poll=True, poll_interval=60, ecps_max_pending=100, ecps_request_ttl=600
    )


def answered(emu: Emulation, request_id: str) -> str:
    return emu.platform.ecps.answered(request_id)


async def poll(emu: Emulation, grant: str, handle: str) -> httpx.Response:
    name = "auth_req_id" if grant == CIBA_GRANT else "device_code"
    data = {"grant_type": grant, name: handle, "client_id": LAUNCHER}
    return await emu.http.post(TOKEN, data=data, timeout=10 * DEADLINE)


async def held_ciba(emu: Emulation, name: str, binding: str = "42") -> tuple[asyncio.Task, str]:
    """A CIBA sign-in started and its first poll held: the poll's task and the request."""
    started = await emu.start_ciba(name, binding=binding)
    assert started.status_code == 200, started.text
    request_id = await emu.pending_id(name)
    polling = asyncio.create_task(poll(emu, CIBA_GRANT, started.json()["auth_req_id"]))
    await until_waiting(answered(emu, request_id))
    assert not polling.done()
    return polling, request_id


async def test_a_held_poll_gets_the_tokens_when_the_phone_approves(emu: Emulation) -> None:
    polling, _ = await held_ciba(emu, "generaliste")
    await emu.approve_pending("generaliste")
    tokens = await asyncio.wait_for(polling, DEADLINE)
    assert tokens.status_code == 200, tokens.text
    assert {"access_token", "id_token", "refresh_token"} <= set(tokens.json())


async def test_a_held_poll_is_refused_when_the_phone_denies(emu: Emulation) -> None:
    polling, request_id = await held_ciba(emu, "generaliste")
    assert (await emu.answer(request_id, "generaliste", approve=False)).status_code == 200
    refused = await asyncio.wait_for(polling, DEADLINE)
    assert refused.status_code == 400
    assert refused.json()["error"] == "access_denied"


async def test_a_lockout_ends_every_held_poll_of_that_professional(emu: Emulation) -> None:
    first, request_id = await held_ciba(emu, "generaliste", "11")
    second, _ = await held_ciba(emu, "generaliste", "22")
    other, _ = await held_ciba(emu, "urgentiste", "33")
    for _ in range(emu.platform.settings.lockout_after):
        emu.clock.advance(30)  # a fresh device code each time: only the PIN is wrong
        await emu.answer(request_id, "generaliste", pin="0000")
    for polling in (first, second):
        refused = await asyncio.wait_for(polling, DEADLINE)
        assert refused.json()["error"] == "access_denied"
        assert "verrouillée" in refused.json()["error_description"]
    assert not other.done()  # another professional's sign-in still waits
    other.cancel()


async def test_a_device_poll_is_held_once_its_code_is_entered(emu: Emulation) -> None:
    started = await emu.http.post(
        "/auth/realms/esante-wallet/protocol/openid-connect/auth/device",
        data={"client_id": LAUNCHER, "scope": "openid"},
    )
    assert started.status_code == 200, started.text
    body = started.json()
    emu.platform.flows.verify_device(body["user_code"], emu.persona("generaliste")["national_id"])
    request_id = await emu.pending_id("generaliste")
    polling = asyncio.create_task(poll(emu, DEVICE_GRANT, body["device_code"]))
    await until_waiting(answered(emu, request_id))
    await emu.approve_pending("generaliste")
    tokens = await asyncio.wait_for(polling, DEADLINE)
    assert tokens.status_code == 200, tokens.text


async def test_held_polls_hold_no_thread(emu: Emulation) -> None:
    """More polls held than the server has worker threads (anyio's 40), and a request
    that needs a thread is still answered while they wait."""
    names = [row["name"] for row in emu.platform.ecps.personas()]
    held = [await held_ciba(emu, names[n % len(names)], f"{n:02d}") for n in range(45)]
    configuration = await emu.http.get(
        "/auth/realms/esante-wallet/.well-known/openid-configuration"
    )
    assert configuration.status_code == 200
    assert not any(polling.done() for polling, _ in held)
    for polling, _ in held:
        polling.cancel()


async def test_an_unanswered_poll_is_pending_at_the_interval_and_may_poll_at_once(
    emu: Emulation,
) -> None:
    # The real clock: the pace is checked against it. A one-second interval, the hold's.
    emu.platform.settings.clock = time.time
    emu.platform.settings.poll_interval = 1
    started = await emu.start_ciba("generaliste")
    handle = started.json()["auth_req_id"]
    for _ in range(2):  # the second poll is sent the moment the first is answered
        pending = await poll(emu, CIBA_GRANT, handle)
        assert pending.status_code == 400
        assert pending.json()["error"] == "authorization_pending"
    assert not BELL.waiting(answered(emu, await emu.pending_id("generaliste")))


async def test_without_long_polling_a_pending_poll_is_answered_at_once(emu: Emulation) -> None:
    emu.platform.settings.long_poll = False
    started = await emu.start_ciba("generaliste")
    pending = await asyncio.wait_for(poll(emu, CIBA_GRANT, started.json()["auth_req_id"]), DEADLINE)
    assert pending.json()["error"] == "authorization_pending"
