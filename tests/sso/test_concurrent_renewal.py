"""Several tasks of one process renewing at once make one refresh, not a replay.

The cross-process file lock is re-entrant within a process: without a lock between
tasks, the dashboard's four tiles checked together after the access token expired
each refreshed with the same refresh token, and the provider, seeing a replay,
revoked the session (the trainer's "expire the token" button signed people out).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bsp_tui.app.faults import expire_locally
from bsp_tui.launcher import open_session
from connectors.base import registry
from tests.app.conftest import sign_in_outside

pytestmark = pytest.mark.anyio
AUDIENCES = [connector.audience for connector in registry()]


async def test_concurrent_renewals_in_one_process_refresh_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BSP_TOKEN_STORE", "file")
    await sign_in_outside("generaliste")
    async with open_session() as session:
        for audience in AUDIENCES:
            await session.connector_token(audience)
        expire_locally(session, AUDIENCES, time.time())
        grants: list[str] = []
        token = session.provider.token

        async def counted(data: dict) -> dict:
            grants.append(data["grant_type"])
            return await token(data)

        session.provider.token = counted  # type: ignore[method-assign]
        tokens = await asyncio.gather(*(session.connector_token(a) for a in AUDIENCES))
        assert len(set(tokens)) == len(AUDIENCES)
        assert grants.count("refresh_token") == 1
        # The session survived: it still renews.
        assert await session.access_token()
        assert session.store.get("session") is not None
