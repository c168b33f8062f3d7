"""OpenID Connect Back-Channel Logout 1.0: a registered client hears of its sessions' end.

The client is a real HTTP server on loopback; the logout token it receives is checked
against the platform's published keys, claim by claim (§2.4).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import ISSUER, OIDC, TOKEN, Emulation
from tests.platform.test_busy import DISCOVERY
from tests.platform.test_code_flow import CABINET, CABINET_REDIRECT, get_code, id_claims, redeem
from tests.platform.test_tokens import LOGOUT, REVOKE, userinfo

pytestmark = pytest.mark.anyio
EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    """A client's back-channel logout endpoint: records every POST, answers `status`."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, list[str]]]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                receiver.posts.append((self.headers.get("Content-Type", ""), parse_qs(body)))
                self.send_response(receiver.status)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bc-logout?from=psc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    opened = Receiver()
    yield opened
    opened.close()


async def cabinet_sign_in(emu: Emulation, backchannel_uri: str | None) -> tuple[dict, str]:
    """The cabinet's software registered (with its logout URI), a code-flow sign-in:
    (token response, client secret)."""
    secret = emu.platform.clients.add(CABINET, [CABINET_REDIRECT], backchannel_uri)
    code, verifier = await get_code(emu, redirect_uri=CABINET_REDIRECT, client_id=CABINET)
    response = await redeem(emu, code, verifier, CABINET_REDIRECT, None, auth=(CABINET, secret))
    assert response.status_code == 200, response.text
    return response.json(), secret


async def logout_claims(emu: Emulation, token: str) -> tuple[dict, dict]:
    """(header, claims) of a logout token, its signature checked with the published keys."""
    jwks = KeySet.import_key_set((await emu.http.get(f"{OIDC}/certs")).json())
    decoded = jwt.decode(token, jwks, algorithms=["RS256"])
    return dict(decoded.header), dict(decoded.claims)


async def test_discovery_says_logout_tokens_carry_the_session(emu: Emulation) -> None:
    metadata = await emu.http.get(DISCOVERY)
    assert metadata.json()["backchannel_logout_supported"] is True
    assert metadata.json()["backchannel_logout_session_supported"] is True


async def test_a_logout_sends_the_client_a_logout_token(emu: Emulation, receiver: Receiver) -> None:
    tokens, _ = await cabinet_sign_in(emu, receiver.url)
    launcher = await emu.sign_in()  # the launcher registered no URI: nothing for it

    response = await emu.http.get(LOGOUT, params={"id_token_hint": launcher["id_token"]})
    assert response.status_code == 200
    assert receiver.posts == []

    before = await id_claims(emu, tokens["id_token"])
    response = await emu.http.get(LOGOUT, params={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    assert len(receiver.posts) == 1
    content_type, form = receiver.posts[0]
    assert content_type == "application/x-www-form-urlencoded"
    assert list(form) == ["logout_token"]
    header, claims = await logout_claims(emu, form["logout_token"][0])
    assert header["typ"] == "logout+jwt"
    assert claims["iss"] == ISSUER and claims["aud"] == CABINET
    assert (claims["sub"], claims["sid"]) == (before["sub"], before["sid"])
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims and claims["jti"]
    assert claims["exp"] - claims["iat"] == 120
    assert (await userinfo(emu, tokens["access_token"])).status_code == 401

    # A second logout with the same hint ends nothing more, and says nothing more.
    await emu.http.get(LOGOUT, params={"id_token_hint": tokens["id_token"]})
    assert len(receiver.posts) == 1


async def test_a_revoked_refresh_token_sends_it_too(emu: Emulation, receiver: Receiver) -> None:
    tokens, secret = await cabinet_sign_in(emu, receiver.url)
    response = await emu.http.post(
        REVOKE, data={"token": tokens["access_token"]}, auth=(CABINET, secret)
    )
    assert response.status_code == 200
    assert receiver.posts == []  # an access token revoked: the session goes on

    response = await emu.http.post(
        REVOKE, data={"token": tokens["refresh_token"]}, auth=(CABINET, secret)
    )
    assert response.status_code == 200
    assert len(receiver.posts) == 1
    _, claims = await logout_claims(emu, receiver.posts[0][1]["logout_token"][0])
    assert claims["sid"] == (await id_claims(emu, tokens["id_token"]))["sid"]


async def test_a_reused_refresh_token_or_a_replayed_code_sends_it_once(
    emu: Emulation, receiver: Receiver
) -> None:
    """The platform ends a session that looks stolen: its client hears of it at once."""
    secret = emu.platform.clients.add(CABINET, [CABINET_REDIRECT], receiver.url)
    code, verifier = await get_code(emu, redirect_uri=CABINET_REDIRECT, client_id=CABINET)
    auth = (CABINET, secret)
    first = (await redeem(emu, code, verifier, CABINET_REDIRECT, None, auth=auth)).json()
    replay = await redeem(emu, code, verifier, CABINET_REDIRECT, None, auth=auth)
    assert replay.json()["error"] == "invalid_grant"
    assert len(receiver.posts) == 1
    _, claims = await logout_claims(emu, receiver.posts[0][1]["logout_token"][0])
    assert claims["sid"] == (await id_claims(emu, first["id_token"]))["sid"]
    again = await redeem(emu, code, verifier, CABINET_REDIRECT, None, auth=auth)
    assert again.json()["error"] == "invalid_grant"
    assert len(receiver.posts) == 1  # already ended: nothing more to say

    code, verifier = await get_code(emu, redirect_uri=CABINET_REDIRECT, client_id=CABINET)
    tokens = (await redeem(emu, code, verifier, CABINET_REDIRECT, None, auth=auth)).json()
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert (await emu.http.post(TOKEN, data=form, auth=auth)).status_code == 200
    reused = await emu.http.post(TOKEN, data=form, auth=auth)
    assert reused.json()["error"] == "invalid_grant"
    assert len(receiver.posts) == 2
    _, claims = await logout_claims(emu, receiver.posts[1][1]["logout_token"][0])
    assert claims["sid"] == (await id_claims(emu, tokens["id_token"]))["sid"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("down", [True, False])
async def test_a_client_down_or_refusing_does_not_keep_the_session(
    emu: Emulation, receiver: Receiver, down: bool
) -> None:
    receiver.status = 500
    uri = f"http://127.0.0.1:{closed_port()}/bc-logout" if down else receiver.url
    tokens, _ = await cabinet_sign_in(emu, uri)
    response = await emu.http.get(LOGOUT, params={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    assert "Vous êtes déconnecté" in response.text
    assert (await userinfo(emu, tokens["access_token"])).status_code == 401
    assert len(receiver.posts) == (0 if down else 1)


@pytest.mark.parametrize(
    "uri", ["https://cabinet.example/logout#frag", "ftp://cabinet.example/logout", "/logout"]
)
async def test_a_logout_uri_is_absolute_http_without_fragment(emu: Emulation, uri: str) -> None:
    with pytest.raises(ValueError, match="URI de déconnexion invalide"):
        emu.platform.clients.add(CABINET, [CABINET_REDIRECT], uri)
    assert emu.platform.clients.get(CABINET) is None
