"""The handlers' SQL runs off the event loop: a request waiting for a lock on one table
does not hold up a request on another. Shown by ordering, on PostgreSQL, where the
waiting request can be seen in `pg_locks`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest

from bsp_tui.platform.app import create_app
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from tests.conftest import Clock, Emulation
from tests.support.postgres import Server

pytestmark = pytest.mark.anyio
PATIENT = "urn:oid:1.2.250.1.213.1.4.10|262037511122263"
DEADLINE = 30.0


def _waiting_on(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " WHERE c.relname = %s AND NOT l.granted",
        (table,),
    ).fetchone()
    return bool(row and row[0])


async def until_waiting(watch: psycopg.Connection, table: str) -> None:
    """Until a request waits for the lock on `table` (the event loop runs it meanwhile)."""
    deadline = time.monotonic() + DEADLINE
    while not _waiting_on(watch, table):
        assert time.monotonic() < deadline, f"no request reached the lock on {table}"
        await asyncio.sleep(0)  # lets the waiting request's task run; not a timer


@pytest.fixture
async def emu(postgres: Server, clock: Clock) -> AsyncIterator[Emulation]:
    """The platform in process on a PostgreSQL database of its own, waiting long for
    locks: a request must still be waiting when the other one ends."""
    url = postgres.create_database()
    app = create_app(PlatformSettings(database=url, clock=clock, db_busy_seconds=DEADLINE))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL) as http:
            yield Emulation(app.state.platform, http, clock)
    finally:
        app.state.platform.db.close()
        postgres.drop_database(url)


def locking(emu: Emulation) -> tuple[psycopg.Connection, psycopg.Connection]:
    """A connection to hold a lock with, and one to watch who waits for it."""
    url = emu.platform.settings.database
    return psycopg.connect(str(url)), psycopg.connect(str(url), autocommit=True)


async def test_a_request_waiting_for_a_lock_does_not_stop_another(emu: Emulation) -> None:
    http = emu.http
    access = (await emu.sign_in("generaliste"))["access_token"]
    dmp = (await emu.exchange(access, "dmp")).json()["access_token"]
    ins = (await emu.exchange(access, "ins")).json()["access_token"]
    holder, watch = locking(emu)
    with holder, watch:
        # The DMP search writes the patient's access history: held here.
        holder.execute("LOCK TABLE dmp_access_log IN ACCESS EXCLUSIVE MODE")
        search = asyncio.create_task(
            http.get(
                "/api/dmp/Patient",
                params={"identifier": PATIENT},
                headers={"Authorization": f"Bearer {dmp}"},
            )
        )
        await until_waiting(watch, "dmp_access_log")
        lookup = await http.post(
            "/api/ins/lookup",
            json={"family": "DUPONT", "given": "JEAN", "sex": "M", "birthdate": "1980-01-01"},
            headers={"Authorization": f"Bearer {ins}"},
        )
        assert lookup.status_code == 200, lookup.text
        assert not search.done()  # still waiting for the lock, and the loop went on
        holder.rollback()  # the lock goes
    answer = await search
    assert answer.status_code == 200, answer.text


async def test_a_request_waiting_to_read_the_faults_does_not_stop_another(
    emu: Emulation,
) -> None:
    holder, watch = locking(emu)
    with holder, watch:
        # Every request but the probes and /demo reads the faults first: held here.
        holder.execute("LOCK TABLE faults IN ACCESS EXCLUSIVE MODE")
        index = asyncio.create_task(emu.http.get("/"))
        await until_waiting(watch, "faults")
        health = await emu.http.get("/healthz")
        assert health.status_code == 200, health.text
        assert not index.done()
        holder.rollback()
    answer = await index
    assert answer.status_code == 200, answer.text
