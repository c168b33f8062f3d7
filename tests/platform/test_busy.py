"""A write waiting for another's lock: the platform answers 503 with Retry-After, reads go
on meanwhile, and the write goes through once the lock is free. The database and its
side files are readable by their owner only."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bsp_tui.platform.app import create_app
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from tests.conftest import Clock, Emulation

pytestmark = pytest.mark.anyio
DISCOVERY = "/auth/realms/esante-wallet/.well-known/openid-configuration"


@pytest.fixture
async def quick(settings: PlatformSettings, clock: Clock) -> AsyncIterator[Emulation]:
    """The platform with a short wait for the lock, so that the refusal comes at once."""
    app = create_app(replace(settings, db_busy_seconds=0.01))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL) as http:
        yield Emulation(app.state.platform, http, clock)


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Another process's connection holding the write lock of the platform's database."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.mark.sqlite_only
async def test_a_locked_database_answers_503_and_reads_go_on(quick: Emulation) -> None:
    signed = await quick.sign_in("generaliste")
    with write_lock(quick.platform.db.path):
        started = await quick.start_ciba("generaliste")
        assert started.status_code == 503, started.text
        assert started.headers["Retry-After"] == "1"
        assert started.json()["error"] == "temporarily_unavailable"
        exchanged = await quick.exchange(signed["access_token"], "dmp")
        assert exchanged.status_code == 200, exchanged.text  # a read: WAL never waits
        token = exchanged.json()["access_token"]
        search = await quick.http.get(  # a DMP search writes the patient's access history
            "/api/dmp/Patient",
            params={"identifier": "urn:oid:1.2.250.1.213.1.4.10|262037511122263"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert search.status_code == 503, search.text
        assert search.headers["Retry-After"] == "1"
        assert search.json()["issue"][0]["code"] == "transient"
        assert (await quick.http.get(DISCOVERY)).status_code == 200
    assert (await quick.start_ciba("generaliste")).status_code == 200


@pytest.mark.sqlite_only
async def test_the_database_and_its_side_files_are_private(emu: Emulation) -> None:
    await emu.sign_in("generaliste")  # writes: the WAL and its index exist
    path = emu.platform.db.path
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    for file in files:
        assert file.exists(), file
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
