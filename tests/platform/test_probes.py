"""/healthz and /readyz: alive without the database, ready only when it answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bsp_tui.platform import faults
from tests.conftest import Emulation

pytestmark = pytest.mark.anyio


def break_database(emu: Emulation, request: pytest.FixtureRequest) -> None:
    """Make the platform's database unreachable under it: PostgreSQL's dropped (its
    connections ended), SQLite's file and side files overwritten."""
    target = emu.platform.settings.database
    if isinstance(target, str) and target.startswith("postgresql://"):
        request.getfixturevalue("postgres").drop_database(target)
        return
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{target}{suffix}")
        if path.exists():
            size = max(path.stat().st_size, 4096)
            with path.open("r+b") as file:
                file.write(b"\xff" * size)
            os.sync()


async def test_readyz_says_503_once_the_database_is_gone_healthz_still_200(
    emu: Emulation, request: pytest.FixtureRequest
) -> None:
    assert (await emu.http.get("/readyz")).json() == {"status": "ready"}
    break_database(emu, request)
    ready = await emu.http.get("/readyz")
    assert ready.status_code == 503 and ready.json() == {"status": "unavailable"}
    alive = await emu.http.get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}


async def test_the_probes_are_neither_faulted_nor_delayed(
    emu: Emulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[int] = []

    async def record(latency_ms: int) -> None:
        delays.append(latency_ms)

    monkeypatch.setattr(faults, "delay", record)
    everything = {"down": list(emu.platform.audiences), "latency_ms": 800}
    assert (await emu.http.put("/demo/faults", json=everything)).status_code == 200
    assert (await emu.http.get("/healthz")).status_code == 200
    assert (await emu.http.get("/readyz")).status_code == 200
    assert delays == []
    assert (await emu.http.get("/")).status_code == 200
    assert delays == [800]
