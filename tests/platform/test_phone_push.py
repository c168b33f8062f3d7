"""The phone's push, emulated by a long poll: `GET /ecps/requests?wait=S&binding=NN` is
held until a sign-in showing that number arrives, so a room of phones costs one request
each per sign-in instead of one every fraction of a second."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from bsp_tui.platform.bell import BELL, Bell
from bsp_tui.platform.db import Database
from tests.conftest import Emulation
from tests.support.postgres import Server

pytestmark = pytest.mark.anyio
DEADLINE = 20.0


async def until_waiting(topic: str, bell: Bell = BELL) -> None:
    """Until a long poll waits on `topic` (an ordering, bounded by DEADLINE)."""
    deadline = time.monotonic() + DEADLINE
    while not bell.waiting(topic):
        assert time.monotonic() < deadline, f"nothing waited on {topic}"
        await asyncio.sleep(0.01)


def pushes_of(emu: Emulation, name: str, binding: str) -> str:
    national_id = emu.persona(name)["national_id"]
    return emu.platform.db.topic(f"ecps/{national_id}/{binding}")


async def held(emu: Emulation, name: str, binding: str, wait: float) -> list[dict]:
    path = "/ecps/requests"
    response = await emu.http.get(
        path,
        params={"wait": wait, "binding": binding},
        headers=await emu.proof(name, "GET", path),
        timeout=wait + 10,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_held_ask_answers_with_the_sign_in_that_arrives(emu: Emulation) -> None:
    await emu.device("generaliste")
    asking = asyncio.create_task(held(emu, "generaliste", "42", DEADLINE))
    await until_waiting(pushes_of(emu, "generaliste", "42"))
    assert not asking.done()
    assert (await emu.start_ciba("generaliste", binding="42")).status_code == 200
    answered = await asyncio.wait_for(asking, DEADLINE)
    assert [r["binding"] for r in answered] == ["42"]


async def test_another_number_does_not_answer_a_held_ask(emu: Emulation) -> None:
    await emu.device("generaliste")
    asking = asyncio.create_task(held(emu, "generaliste", "42", DEADLINE))
    await until_waiting(pushes_of(emu, "generaliste", "42"))
    # Another trainee of the same persona: their push is not this phone's answer.
    assert (await emu.start_ciba("generaliste", binding="07")).status_code == 200
    assert (await emu.start_ciba("generaliste", binding="42")).status_code == 200
    answered = await asyncio.wait_for(asking, DEADLINE)
    assert [r["binding"] for r in answered] == ["42"]


async def test_a_held_ask_ends_empty_at_its_wait(emu: Emulation) -> None:
    await emu.device("generaliste")
    assert await held(emu, "generaliste", "42", 0.2) == []


async def test_the_phone_approves_the_sign_in_it_waited_for(emu: Emulation) -> None:
    phone = emu.phone
    pin = emu.persona("generaliste")["pin"]
    await emu.device("generaliste")
    approving = asyncio.create_task(phone.approve_binding("generaliste", pin, "42", wait=DEADLINE))
    await until_waiting(pushes_of(emu, "generaliste", "42"))
    started = await emu.start_ciba("generaliste", binding="42")
    await asyncio.wait_for(approving, DEADLINE)
    assert (await emu.poll_ciba(started.json()["auth_req_id"])).status_code == 200


@pytest.mark.parametrize(
    "query", [{"wait": "26"}, {"wait": "-1"}, {"wait": "soon"}, {"binding": "9" * 17}]
)
async def test_a_bad_wait_or_number_is_refused(emu: Emulation, query: dict[str, str]) -> None:
    path = "/ecps/requests"
    response = await emu.http.get(
        path, params=query, headers=await emu.proof("generaliste", "GET", path)
    )
    assert response.status_code == 422


async def test_a_held_ask_needs_the_device_proof(emu: Emulation) -> None:
    response = await emu.http.get("/ecps/requests", params={"wait": "1"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "device_refused"


async def test_another_workers_commit_rings_this_one(postgres: Server) -> None:
    """Workers hear one another through NOTIFY: a bell of its own (another process's)
    listening to the database is rung by a commit made elsewhere."""
    url = postgres.create_database(seeded=False)
    db = Database(url)
    other = Bell()
    other.listen_to(db.engine.url)
    try:
        async with other.listening("room/topic") as rung:
            deadline = time.monotonic() + DEADLINE
            # The listening connection takes a moment to be made: notify until heard.
            while not rung.is_set():
                assert time.monotonic() < deadline, "no notification reached the other bell"
                with db.write() as tx:
                    tx.notify("room/topic")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(rung.wait(), 0.1)
    finally:
        other.stop_listening(db.engine.url)
        db.close()
        postgres.drop_database(url)


async def test_every_topic_of_one_commit_rings_in_another_worker(postgres: Server) -> None:
    """A transaction's topics go in one `NOTIFY` statement before its commit: each of
    them reaches another process's bell, and nothing is sent for a rolled-back one."""
    url = postgres.create_database(seeded=False)
    db = Database(url)
    other = Bell()
    other.listen_to(db.engine.url)
    try:
        async with (
            other.listening("room/a") as first,
            other.listening("room/b") as second,
            other.listening("room/never") as never,
        ):
            deadline = time.monotonic() + DEADLINE
            while not (first.is_set() and second.is_set()):
                assert time.monotonic() < deadline, "a topic of the commit was not heard"
                with contextlib.suppress(RuntimeError), db.write() as tx:
                    tx.notify("room/never")
                    raise RuntimeError("rolled back")
                with db.write() as tx:
                    tx.notify("room/a")
                    tx.notify("room/b")
                    tx.notify("room/a")  # the same topic twice: one notification
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(second.wait(), 0.1)
            assert not never.is_set()
    finally:
        other.stop_listening(db.engine.url)
        db.close()
        postgres.drop_database(url)
