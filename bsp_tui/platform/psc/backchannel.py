"""OpenID Connect Back-Channel Logout 1.0: a client hears, server to server, that a session ends.

A client registered with a `backchannel_logout_uri` (`bsp platform clients add …
--backchannel-logout-uri URI`) is sent, when one of its sessions ends (logout, revocation
of its refresh token, a replayed code or a reused refresh token), a logout token (§2.4)
POSTed as the form field `logout_token` (§2.5). Its answer changes nothing: the session
is ended either way, and a client that is down or refuses is only logged (§2.8; the
token itself never is).
"""

from __future__ import annotations

import logging

import httpx

from bsp_tui.platform.psc.clients import Clients
from bsp_tui.platform.psc.tokens import Tokens

log = logging.getLogger(__name__)
# The emulation's own: how long the platform waits for a client's answer (the spec fixes none).
DELIVERY_TIMEOUT = 5.0


class BackChannel:
    """Sends the logout tokens."""

    def __init__(self, tokens: Tokens, clients: Clients) -> None:
        self._tokens = tokens
        self._clients = clients

    def notify(self, sid: str, issuer: str) -> bool:
        """Tell the session's client that it ended; True when the client took it (2xx)."""
        client_id, token = self._tokens.logout_token(sid, issuer)
        client = self._clients.get(client_id)
        uri = client["backchannel_logout_uri"] if client is not None else None
        if not uri:
            return False
        try:
            # §2.5: a form POST; a redirect is an answer, not to be followed.
            response = httpx.post(
                uri,
                data={"logout_token": token},
                timeout=DELIVERY_TIMEOUT,
                follow_redirects=False,
            )
        except httpx.HTTPError as error:
            log.warning(
                "back-channel logout of client %s failed: %s", client_id, type(error).__name__
            )
            return False
        if not response.is_success:
            log.warning(
                "back-channel logout of client %s refused: HTTP %s", client_id, response.status_code
            )
        return response.is_success
