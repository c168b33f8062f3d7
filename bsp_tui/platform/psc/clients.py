"""Registered OIDC clients: the launcher (public, PKCE) and any relying party a trainer adds."""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from sqlalchemy import RowMapping

from bsp_tui.platform.db import Database
from bsp_tui.platform.psc.errors import OAuthError
from bsp_tui.platform.psc.tokens import token_hash
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.platform.tables import CLIENTS_TOPIC

# How long a worker trusts a client it read when no change rang its bell.
KEPT_SECONDS = 1.0
LAUNCHER_ID = "bsp-launcher"
LAUNCHER_NAME = "Lanceur bsp"
# RFC 8252 §7.3: a loopback redirect may use any port; the launcher registers it port-less.
LAUNCHER_REDIRECTS = ["http://127.0.0.1/callback"]
_CLIENT_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")
_VISIBLE = re.compile(r"[!-~]+")  # visible ASCII: no space, no control character
# A loopback redirect with a port: lower-case scheme, a port without leading zero, a path
# of visible ASCII, no query or fragment.
_LOOPBACK_REDIRECT = re.compile(
    r"http://(?P<host>127\.0\.0\.1|\[::1\]):(?P<port>[1-9][0-9]{0,4})(?P<path>/[!\x22$->@-~]*)"
)


def seed_clients(db: Database, settings: PlatformSettings) -> None:
    """Register the launcher itself, once."""
    with db.write() as conn:
        conn.execute(
            "INSERT INTO clients (client_id, name, redirect_uris, created)"
            " VALUES (:id, :name, :uris, :now) ON CONFLICT DO NOTHING",
            {
                "id": LAUNCHER_ID,
                "name": LAUNCHER_NAME,
                "uris": json.dumps(LAUNCHER_REDIRECTS),
                "now": settings.now(),
            },
        )


def redirect_allowed(registered: list[str], candidate: str) -> bool:
    """Exact string match (RFC 9700 §2.1), with RFC 8252's one exception: a port-less
    loopback registration admits the same URI with any port, written canonically.

    Nothing is normalised first: a different case, a padded port, spaces or control
    characters make another string, refused rather than "fixed" and echoed.
    """
    if candidate in registered:
        return True
    loopback = _LOOPBACK_REDIRECT.fullmatch(candidate)
    if loopback is None or int(loopback["port"]) > 65535:
        return False
    return f"http://{loopback['host']}{loopback['path']}" in registered


def _absolute_uri(uri: str) -> bool:
    """An http(s) URI with a host, written in visible ASCII, without a fragment."""
    parts = urlsplit(uri)
    return bool(
        parts.scheme in ("http", "https")
        and uri.startswith(f"{parts.scheme}://")
        and parts.netloc
        and not parts.fragment
        and _VISIBLE.fullmatch(uri)
    )


class Clients:
    """The client registry."""

    def __init__(self, db: Database, settings: PlatformSettings) -> None:
        self._db = db
        self._settings = settings
        # Every grant and exchange names its client: a room's sign-in read it four times.
        self._kept = db.kept(CLIENTS_TOPIC, KEPT_SECONDS)

    def add(
        self, client_id: str, redirect_uris: list[str], backchannel_logout_uri: str | None = None
    ) -> str:
        """Register a confidential client; returns its secret (shown once, kept as a hash).

        With `backchannel_logout_uri`, the client is told server to server when one of its
        sessions ends (`psc.backchannel`)."""
        if not _CLIENT_ID.fullmatch(client_id):
            raise ValueError(
                "Le nom du client : 2 à 40 caractères, minuscules, chiffres et tirets."
            )
        for uri in redirect_uris:
            if not _absolute_uri(uri):
                raise ValueError(f"URI de redirection invalide : {uri!r}")
        # Back-Channel Logout §2.2: an absolute URI, which may carry a query, never a fragment.
        if backchannel_logout_uri is not None and not _absolute_uri(backchannel_logout_uri):
            raise ValueError(f"URI de déconnexion invalide : {backchannel_logout_uri!r}")
        secret = secrets.token_urlsafe(32)
        with self._db.write() as conn:
            added = conn.execute(
                "INSERT INTO clients (client_id, name, secret_hash, redirect_uris, created,"
                " backchannel_logout_uri) VALUES (:id, :id, :secret, :uris, :now, :logout)"
                " ON CONFLICT DO NOTHING",
                {
                    "id": client_id,
                    "secret": token_hash(secret),
                    "uris": json.dumps(redirect_uris),
                    "now": self._settings.now(),
                    "logout": backchannel_logout_uri,
                },
            )
            if not added:
                raise ValueError(f"Un client « {client_id} » est déjà enregistré.")
        return secret

    def get(self, client_id: str | None) -> RowMapping | None:
        """A registered client, or None."""
        if not client_id:
            return None
        client = self._kept.get(client_id)
        if client is None:
            stamp = self._kept.stamp()
            client = self._db.one("SELECT * FROM clients WHERE client_id = :id", {"id": client_id})
            if client is not None:  # an unknown one is asked again: it may be added
                self._kept.keep(stamp, client_id, client)
        return client

    def authenticate(
        self, headers: Mapping[str, str], client_id: str | None, client_secret: str | None
    ) -> RowMapping:
        """client_secret_basic, client_secret_post, or `none` for a public client.

        `headers` must look names up case-insensitively, as Starlette's `Headers` do.
        """
        basic_id, basic_secret = extract_basic_authorization(headers)
        if basic_id:
            client_id, client_secret = basic_id, basic_secret
        client = self.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", "Client inconnu.", 401)
        if client["secret_hash"] is None:
            return client
        if not client_secret or not hmac.compare_digest(
            token_hash(client_secret), client["secret_hash"]
        ):
            raise OAuthError("invalid_client", "Authentification du client refusée.", 401)
        return client

    def redirect_uris(self, client: RowMapping) -> list[str]:
        """The client's registered redirect URIs."""
        return json.loads(client["redirect_uris"])
