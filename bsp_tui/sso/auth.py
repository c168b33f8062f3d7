"""httpx authentication for connectors: their own bearer token, renewed once on a 401."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

import httpx

from bsp_tui.sso.errors import ServiceRefusedError

if TYPE_CHECKING:
    from bsp_tui.sso.session import Session


class ConnectorAuth(httpx.Auth):
    """Adds the connector's API token; on a 401, renews once and retries.

    A connector never sees the refresh token, only its own audience's token.
    """

    requires_response_body = True

    def __init__(self, session: Session, audience: str) -> None:
        self._session = session
        self._audience = audience

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._session.connector_token(self._audience)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        token = await self._session.connector_token(self._audience, refused=token)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            raise ServiceRefusedError(
                f"Le service {self._audience} refuse la session, même renouvelée : "
                "reconnectez-vous avec `bsp login`."
            )
