"""Requests racing on one thing, on both engines: the handlers run in the thread pool, so
on PostgreSQL they truly overlap, and each read-check-write section must still let
exactly one through."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from bsp_tui.platform.db import Database
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.platform.signing import SigningKeys
from tests.conftest import CIBA_GRANT, LAUNCHER, TOKEN, Emulation

pytestmark = pytest.mark.anyio
RACERS = 8
THREADS = 16


async def test_racing_refreshes_of_one_token_make_one_new_token(emu: Emulation) -> None:
    signed = await emu.sign_in("generaliste")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": signed["refresh_token"],
        "client_id": LAUNCHER,
    }
    answers = await asyncio.gather(*(emu.http.post(TOKEN, data=form) for _ in range(RACERS)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * (RACERS - 1)
    sid = signed["session_state"]
    rows = emu.platform.db.all(
        "SELECT s.end_reason, count(*) AS tokens FROM sessions s JOIN refresh_tokens r"
        " ON r.sid = s.sid WHERE s.sid = :sid GROUP BY s.end_reason",
        {"sid": sid},
    )
    assert [dict(row) for row in rows] == [{"end_reason": "refresh_reuse", "tokens": 2}]


async def test_racing_answers_to_one_request_approve_it_once(emu: Emulation) -> None:
    started = await emu.start_ciba("generaliste")
    assert started.status_code == 200
    emu.clock.advance(30)
    request_id = await emu.pending_id("generaliste")
    code = await emu.code("generaliste")
    answers = await asyncio.gather(
        *(emu.answer(request_id, "generaliste", otp=code) for _ in range(RACERS))
    )
    statuses = sorted(answer.status_code for answer in answers)
    # One approval; the others meet either the answered request or the spent code.
    assert statuses[0] == 200 and statuses.count(200) == 1, [a.text for a in answers]
    assert set(statuses[1:]) <= {403, 409}
    assert await emu.request_status("generaliste", request_id) == "approved"
    assert emu.persona("generaliste")["failures"] == 0


async def test_racing_wrong_pins_count_every_failure_then_lock(emu: Emulation) -> None:
    after = emu.platform.settings.lockout_after
    for binding in range(after):
        started = await emu.start_ciba("generaliste", binding=f"{binding:02d}")
        assert started.status_code == 200
    emu.clock.advance(30)
    ids = [request["id"] for request in await emu.phone_requests("generaliste")]
    code = await emu.code("generaliste")
    wrong = f"{(int(emu.persona('generaliste')['pin']) + 1) % 10_000:04d}"
    answers = await asyncio.gather(
        *(emu.answer(request_id, "generaliste", pin=wrong, otp=code) for request_id in ids)
    )
    # Counted one after the other: the last wrong PIN locks, none is lost to a race.
    assert sorted(answer.status_code for answer in answers) == [403] * (after - 1) + [423]
    assert emu.persona("generaliste")["locked_until"] > emu.clock()


def test_racing_first_signatures_read_the_key_once(
    settings: PlatformSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A room's first sign-ins sign at once: the key's PEM (some 40 ms of CPU to read) is
    read by one of them, not by each."""
    db = Database(settings.database)
    try:
        SigningKeys(db, settings).active()  # the key exists, as on a started platform
        reads: list[str] = []
        real = RSAKey.import_key

        def counted(*args: Any, **kwargs: Any) -> RSAKey:
            reads.append("pem")
            return real(*args, **kwargs)

        monkeypatch.setattr(RSAKey, "import_key", counted)
        keys = SigningKeys(db, settings)
        start = threading.Barrier(THREADS)

        def sign() -> str:
            start.wait()
            return keys.active().kid

        with ThreadPoolExecutor(THREADS) as pool:
            kids = set(pool.map(lambda _: sign(), range(THREADS)))
        assert len(kids) == 1
        assert reads == ["pem"]
    finally:
        db.close()


@pytest.mark.postgresql_only
async def test_an_approval_waits_for_no_lock_on_its_professional(emu: Emulation) -> None:
    """A room's trainees share a few personas: a right answer changes no persona row, so
    it goes through while another transaction holds that row (a wrong answer counting)."""
    started = await emu.start_ciba("generaliste")
    assert started.status_code == 200
    emu.clock.advance(30)
    request_id = await emu.pending_id("generaliste")
    with emu.platform.db.write() as holder:
        assert holder.locked("SELECT * FROM personas WHERE name = 'generaliste'") is not None
        approved = await emu.answer(request_id, "generaliste")
        assert approved.status_code == 200, approved.text
    assert await emu.request_status("generaliste", request_id) == "approved"


async def test_an_approval_racing_a_lockout_is_one_or_the_other(emu: Emulation) -> None:
    """The fifth wrong PIN ends the professional's pending requests while another phone
    approves one of them: it is approved or locked, never approved then overwritten, and
    the counting agrees with whichever came first."""
    after = emu.platform.settings.lockout_after
    for binding in range(after + 1):
        assert (await emu.start_ciba("generaliste", binding=f"{binding:02d}")).status_code == 200
    emu.clock.advance(30)
    *wrong_ids, right_id = [r["id"] for r in await emu.phone_requests("generaliste")]
    code = await emu.code("generaliste")
    wrong = f"{(int(emu.persona('generaliste')['pin']) + 1) % 10_000:04d}"
    answers = await asyncio.gather(
        *(emu.answer(i, "generaliste", pin=wrong, otp=code) for i in wrong_ids[:-1]),
    )
    assert {answer.status_code for answer in answers} == {403}
    last, right = await asyncio.gather(
        emu.answer(wrong_ids[-1], "generaliste", pin=wrong, otp=code),
        emu.answer(right_id, "generaliste"),
    )
    status = emu.platform.ecps.request(right_id).status
    # The approval first: it resets the count, and the fifth wrong PIN is only the first.
    # The lockout first: it ends the request, and the approval meets the lock.
    outcome = (right.status_code, status, last.status_code)
    assert outcome in ((200, "approved", 403), (423, "locked", 423), (409, "locked", 423))


async def test_racing_pushes_to_one_professional_stop_at_the_bound(emu: Emulation) -> None:
    """A room's trainees push to one persona at the same instant: each push is written,
    then counted under the persona's row, and exactly the bound get through."""
    limit = emu.platform.settings.ecps_max_pending
    answers = await asyncio.gather(
        *(emu.start_ciba("generaliste", binding=f"{n:02d}") for n in range(limit + RACERS))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * limit + [400] * RACERS, [a.text for a in answers]
    assert len(emu.platform.ecps.pending(emu.persona("generaliste")["national_id"])) == limit


async def test_racing_polls_of_one_grant_are_paced_one_after_the_other(emu: Emulation) -> None:
    """Polls of one auth_req_id at the same instant: one is answered (pending), the others
    came too soon and are told to slow down; the interval grew for the client."""
    started = await emu.start_ciba("generaliste")
    handle = started.json()["auth_req_id"]
    form = {"grant_type": CIBA_GRANT, "auth_req_id": handle, "client_id": LAUNCHER}
    answers = await asyncio.gather(*(emu.http.post(TOKEN, data=form) for _ in range(RACERS)))
    errors = sorted(answer.json()["error"] for answer in answers)
    assert errors == ["authorization_pending"] + ["slow_down"] * (RACERS - 1), errors
    grant = emu.platform.db.one("SELECT interval FROM pending_grants WHERE kind = 'ciba'")
    assert grant is not None and grant["interval"] > emu.platform.settings.poll_interval
