"""A connector's client reads the token store once in a while, not on every request."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bsp_tui.launcher import open_session
from bsp_tui.sso import auth
from bsp_tui.sso.errors import NoSessionError
from bsp_tui.sso.session import Session
from tests.sso.test_session import sign_in

pytestmark = pytest.mark.anyio


class CountingStore:
    """The session's store, counting reads."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.reads = 0
        self.kind = inner.kind  # type: ignore[attr-defined]

    def get(self, key: str) -> dict | None:
        self.reads += 1
        return self.inner.get(key)  # type: ignore[attr-defined]

    def put(self, key: str, value: dict) -> None:
        self.inner.put(key, value)  # type: ignore[attr-defined]

    def delete(self, key: str) -> None:
        self.inner.delete(key)  # type: ignore[attr-defined]


@pytest.fixture
async def signed_in(bsp_home: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Session]:
    monkeypatch.setenv("BSP_TOKEN_STORE", "memory")
    monkeypatch.setenv("BSP_POLL_INTERVAL", "1")
    async with open_session() as session:
        await sign_in(session)
        session.store = CountingStore(session.store)  # type: ignore[assignment]
        yield session


async def test_after_the_first_call_the_next_ninety_nine_read_nothing(
    signed_in: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "REREAD", 3600.0)
    store: CountingStore = signed_in.store  # type: ignore[assignment]
    async with signed_in.client_for("ins") as client:
        assert (await client.get("/me")).status_code == 200
        first = store.reads
        for _ in range(99):
            assert (await client.get("/me")).status_code == 200
    assert first >= 1
    assert store.reads == first


async def test_without_the_memory_every_call_reads_the_store(
    signed_in: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "REREAD", 0.0)
    store: CountingStore = signed_in.store  # type: ignore[assignment]
    async with signed_in.client_for("ins") as client:
        for _ in range(20):
            assert (await client.get("/me")).status_code == 200
    assert store.reads >= 20


async def test_a_token_expired_in_the_store_is_renewed_once_the_memory_is_stale(
    signed_in: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "REREAD", 3600.0)
    async with signed_in.client_for("ins") as client:
        first = (await client.get("/me")).request.headers["Authorization"]
        record = signed_in.store.get("api:ins")
        signed_in.store.put("api:ins", record | {"expires_at": time.time() - 1})
        # Still remembered: the same (still valid) token goes out.
        assert (await client.get("/me")).request.headers["Authorization"] == first
        monkeypatch.setattr(auth, "REREAD", 0.0)
        renewed = await client.get("/me")
    assert renewed.status_code == 200
    assert renewed.request.headers["Authorization"] != first


async def test_a_session_ended_elsewhere_is_found_out_by_the_services_refusal(
    signed_in: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "REREAD", 3600.0)
    async with signed_in.client_for("ins") as client:
        assert (await client.get("/me")).status_code == 200
        assert await signed_in.logout()
        with pytest.raises(NoSessionError):
            await client.get("/me")
