"""Fixtures for the launcher's tests: an isolated keyring, a fast CIBA pace, and helpers
that wait on the interface (never sleep), read a persona's PIN and count e-CPS approvals.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest
from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.pilot import Pilot

from bsp_tui.config import folders
from bsp_tui.launcher import open_session, virtual_phone
from bsp_tui.platform.core import Platform
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.store import MemoryStore
from tests.support.keyring_backend import FileKeyring


@pytest.fixture(autouse=True)
def app_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-second CIBA pace and none of the knobs a developer's shell may have set."""
    monkeypatch.setenv("BSP_POLL_INTERVAL", "1")
    for name in ("BSP_LOCK_AFTER", "BSP_ECPS_REQUEST_TTL", "BSP_ECPS_LOCKOUT", "BSP_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    # The memory store is shared by the whole process: a session left by another test
    # must not open a dashboard here.
    monkeypatch.setattr(MemoryStore, "_shared", {})


@pytest.fixture(autouse=True)
def shared_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's own keyring (a JSON file), as the OS keyring would be for its apps."""
    path = tmp_path / "keyring.json"
    monkeypatch.setenv("BSP_TEST_KEYRING", str(path))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    yield path
    keyring.set_keyring(previous)


async def wait_for(
    pilot: Pilot,
    predicate: Callable[[], object],
    timeout: float = 10,
    what: str = "",
) -> None:
    """Let the app run until `predicate()` is true; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(NoMatches, NoScreen):  # not mounted yet: keep waiting
            if predicate():
                return
        if time.monotonic() >= deadline:
            app = pilot.app
            pytest.fail(
                f"after {timeout} s, still not: {what or predicate!r} "
                f"(screen: {type(app.screen).__name__}, "
                f"stack: {[type(s).__name__ for s in app.screen_stack]}, "
                f"notifications: {[n.message for n in app._notifications]})"
            )
        await pilot.pause(0.05)


def platform_database() -> Path:
    """The embedded platform's SQLite file under this test's BSP_HOME."""
    return folders().data / "platform.sqlite3"


def persona(name: str) -> dict:
    """A demo professional as the platform stores it (PIN included)."""
    platform = Platform.open(PlatformSettings.from_env())
    try:
        row = platform.ecps.persona(name=name)
        return {key: row[key] for key in row.keys()}  # noqa: SIM118 - sqlite3.Row
    finally:
        platform.db.close()


def pin_of(name: str) -> str:
    """The persona's e-CPS PIN."""
    return persona(name)["pin"]


def national_id_of(name: str) -> str:
    """The persona's national identifier (8 + RPPS)."""
    return persona(name)["national_id"]


def count_requests(status: str | None = None) -> int:
    """e-CPS requests in the platform's database (of one status, or all)."""
    path = platform_database()
    if not path.exists():
        return 0
    connection = sqlite3.connect(path)
    try:
        if status is None:
            return connection.execute("SELECT count(*) FROM ecps_requests").fetchone()[0]
        return connection.execute(
            "SELECT count(*) FROM ecps_requests WHERE status = ?", (status,)
        ).fetchone()[0]
    finally:
        connection.close()


def approvals() -> int:
    """How many e-CPS approvals the platform has recorded."""
    return count_requests("approved")


async def sign_in_outside(name: str = "generaliste") -> dict:
    """Sign in as another terminal would (CLI-like, same store): one approval."""
    pin = pin_of(name)
    async with open_session() as session:
        phone = virtual_phone(session.http)
        who = await phone.persona(name)

        async def approve(binding: str) -> None:
            await phone.approve_binding(name, pin, binding)

        return await session.sign_in(
            "ciba", lambda event: None, who["national_id"], approve=approve
        )


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
