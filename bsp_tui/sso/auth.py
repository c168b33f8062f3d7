"""httpx authentication for connectors: their own bearer token, renewed once on a 401."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any, Protocol

import httpx

from bsp_tui.sso.errors import ServiceRefusedError
from bsp_tui.sso.records import fresh

REREAD = 1.0


class TokenSource(Protocol):
    """Where a connector's auth gets its token (the session, in the launcher)."""

    async def connector_token(
        self, audience: str, min_valid: float = 0, refused: str | None = None
    ) -> str:
        """A valid API token for `audience`, never `refused` again."""
        ...

    def cached_token(self, audience: str) -> Mapping[str, Any] | None:
        """The stored record of that token (its expiry), without renewing it."""
        ...


class ConnectorAuth(httpx.Auth):
    """Adds the connector's API token; on a 401, renews once and retries.

    A connector never sees the refresh token, only its own audience's token. The token
    is kept in memory and the store read again at most every `REREAD` seconds, so a
    client making thousands of calls (a batch) does not read the store (a file, or a
    keyring call in a thread) on every request, while a token renewed, expired or
    wiped by another process or the trainer's buttons is still seen within a second;
    a service's 401 always goes back to the store.
    """

    requires_response_body = True

    def __init__(self, source: TokenSource, audience: str) -> None:
        self._source = source
        self._audience = audience
        self._cached: Mapping[str, Any] | None = None
        self._read_at = 0.0

    async def _token(self, refused: str | None = None) -> str:
        cached = self._cached
        recent = time.monotonic() - self._read_at < REREAD
        if refused is None and cached is not None and recent and fresh(cached):
            return str(cached["token"])
        token = await self._source.connector_token(self._audience, refused=refused)
        record = self._source.cached_token(self._audience)
        self._cached = record if record and record.get("token") == token else None
        self._read_at = time.monotonic()
        return token

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        token = await self._token(refused=token)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self._cached = None
            raise ServiceRefusedError(
                f"Le service {self._audience} refuse la session, même renouvelée : "
                "reconnectez-vous avec `bsp login`."
            )
